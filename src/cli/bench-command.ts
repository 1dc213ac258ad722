/**
 * `raftkv bench`: closed-loop load against raftkv (a fresh local cluster of node processes, or
 * --endpoints) or etcd, with results.json and charts in --out; `--compare` runs both,
 * interleaved, and prints the ratio table. Human output goes to stderr; stdout gets one JSON
 * summary line at the end.
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { type BenchConfig, defaultConfig, InvalidBenchConfig } from "../bench/config.ts"
import { InvalidFlag, parseBytes, parseDuration } from "./addresses.ts"

const flags = {
  clients: Flag.Int("clients").pipe(
    Flag.withDescription("Closed-loop clients (each sends one operation and waits)"),
    Flag.withDefault(defaultConfig.clients)
  ),
  readRatio: Flag.Finite("read-ratio").pipe(
    Flag.withDescription("Fraction of operations that are linearizable reads (0..1)"),
    Flag.withDefault(defaultConfig.readRatio)
  ),
  snapshotThreshold: Flag.String("snapshot-threshold").pipe(
    Flag.withDescription("raftkv nodes snapshot past this much log (e.g. 4MiB)"),
    Flag.withDefault("4MiB")
  ),
  duration: Flag.String("duration").pipe(
    Flag.withDescription("Measured time (e.g. 60s)"),
    Flag.withDefault("60s")
  ),
  warmup: Flag.String("warmup").pipe(
    Flag.withDescription("Unmeasured load first (e.g. 3s)"),
    Flag.withDefault("3s")
  ),
  keySpace: Flag.Int("key-space").pipe(
    Flag.withDescription("Distinct keys"),
    Flag.withDefault(defaultConfig.keySpace)
  ),
  valueSize: Flag.Int("value-size").pipe(
    Flag.withDescription("Bytes per value"),
    Flag.withDefault(defaultConfig.valueSize)
  ),
  nodes: Flag.Int("nodes").pipe(
    Flag.withDescription("Members of the local cluster the bench starts"),
    Flag.withDefault(defaultConfig.nodes)
  ),
  endpoints: Flag.String("endpoints").pipe(
    Flag.withDescription("host:port,... of an existing cluster's client ports (default: start a fresh one)"),
    Flag.optional
  ),
  metricsEndpoints: Flag.String("metrics-endpoints").pipe(
    Flag.withDescription("host:port,... of an existing raftkv cluster's HTTP (metrics) ports"),
    Flag.optional
  ),
  target: Flag.Literals("target", ["raftkv", "etcd"]).pipe(
    Flag.withDescription("System under test"),
    Flag.withDefault("raftkv" as const)
  ),
  out: Flag.String("out").pipe(
    Flag.withDescription("Output dir (results.json, charts, node logs)"),
    Flag.withDefault("bench-out")
  ),
  sharedClient: Flag.Boolean("shared-client").pipe(
    Flag.withDescription("All clients share one SDK client instead of one each"),
    Flag.withDefault(false)
  ),
  compare: Flag.Boolean("compare").pipe(
    Flag.withDescription("Run raftkv and etcd back to back, interleaved, and print the ratio table"),
    Flag.withDefault(false)
  ),
  repeat: Flag.Int("repeat").pipe(
    Flag.withDescription("With --compare: pairs of runs (raftkv first in odd runs, etcd first in even)"),
    Flag.withDefault(1)
  ),
  seed: Flag.Int("seed").pipe(Flag.withDescription("Workload seed"), Flag.withDefault(defaultConfig.seed)),
  opTimeout: Flag.String("op-timeout").pipe(
    Flag.withDescription("Deadline of one operation, retries included"),
    Flag.withDefault("5s")
  ),
  nodeExecArgs: Flag.String("node-exec-args").pipe(
    Flag.withDescription('Node.js flags for local raftkv nodes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"'),
    Flag.optional
  ),
  nodeArgs: Flag.String("node-args").pipe(
    Flag.withDescription("Extra `raftkv node` flags for local raftkv nodes"),
    Flag.optional
  ),
  keepData: Flag.Boolean("keep-data").pipe(
    Flag.withDescription("Keep the local cluster's temporary data dir"),
    Flag.withDefault(false)
  ),
  quiet: Flag.Boolean("quiet").pipe(Flag.withDescription("No progress output"), Flag.withDefault(false))
} as const

const words = (o: Option.Option<string>): ReadonlyArray<string> =>
  Option.match(o, { onNone: () => [], onSome: (s) => s.split(/\s+/).filter((w) => w !== "") })

const list = (o: Option.Option<string>): ReadonlyArray<string> | undefined =>
  Option.match(o, {
    onNone: () => undefined,
    onSome: (s) =>
      s
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== "")
  })

const check = <A>(r: A | InvalidFlag): Effect.Effect<A, InvalidBenchConfig> =>
  r instanceof InvalidFlag ? Effect.fail(new InvalidBenchConfig({ message: r.message })) : Effect.succeed(r)

type RawFlags = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

/** The run's configuration from the command line. */
export const configFromFlags = (f: RawFlags): Effect.Effect<BenchConfig, InvalidBenchConfig> =>
  Effect.gen(function* () {
    return {
      target: f.target,
      clients: f.clients,
      readRatio: f.readRatio,
      snapshotThresholdBytes: yield* check(parseBytes("snapshot-threshold", f.snapshotThreshold)),
      durationMs: yield* check(parseDuration("duration", f.duration)),
      warmupMs: yield* check(parseDuration("warmup", f.warmup)),
      keySpace: f.keySpace,
      valueSize: f.valueSize,
      nodes: f.nodes,
      endpoints: list(f.endpoints),
      metricsEndpoints: list(f.metricsEndpoints),
      sharedClient: f.sharedClient,
      outDir: f.out,
      seed: f.seed,
      opTimeoutMs: yield* check(parseDuration("op-timeout", f.opTimeout)),
      nodeExecArgs: words(f.nodeExecArgs),
      nodeArgs: words(f.nodeArgs),
      keepData: f.keepData,
      progress: !f.quiet
    }
  })

export const benchCommand = Command.make("bench", flags, (f) =>
  Effect.gen(function* () {
    const config = yield* configFromFlags(f)
    const { runBenchCommand } = yield* Effect.promise(() => import("./bench-run.ts"))
    return yield* runBenchCommand(config, f.compare, f.repeat)
  })
).pipe(
  Command.withDescription(
    "Closed-loop load test of raftkv (or etcd) with results.json and charts; --compare runs both"
  )
)
