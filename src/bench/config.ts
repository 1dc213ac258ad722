/**
 * What one bench run is configured with, its defaults, and their validation.
 */
import { Schema } from "effect"

export type TargetName = "raftkv" | "etcd"

export interface BenchConfig {
  readonly target: TargetName
  /** Closed-loop clients: each sends one operation and waits for its answer before the next. */
  readonly clients: number
  /** Fraction of operations that are (linearizable) reads; the rest are puts. */
  readonly readRatio: number
  /** raftkv nodes snapshot once the log since the last snapshot exceeds this (not used by etcd). */
  readonly snapshotThresholdBytes: number
  readonly durationMs: number
  /** Load runs this long before measuring starts; nothing from it is recorded. */
  readonly warmupMs: number
  /** Keys are `key-000000` .. `key-<keySpace-1>`, chosen uniformly. */
  readonly keySpace: number
  readonly valueSize: number
  /** Members of the local cluster the bench starts (ignored with `endpoints`). */
  readonly nodes: number
  /** Client endpoints of an existing cluster; none: start a fresh local cluster. */
  readonly endpoints: ReadonlyArray<string> | undefined
  /** host:port of each node's metrics (HTTP) for an existing cluster. */
  readonly metricsEndpoints: ReadonlyArray<string> | undefined
  /** All closed-loop clients share one SDK client (one connection per node) instead of one each. */
  readonly sharedClient: boolean
  readonly outDir: string
  /** Seed of the workload's key and operation choices. */
  readonly seed: number
  /** Deadline of one operation, retries included. */
  readonly opTimeoutMs: number
  /** Extra Node.js flags for the raftkv node processes (e.g. `--cpu-prof`). */
  readonly nodeExecArgs: ReadonlyArray<string>
  /** Extra `raftkv node` flags for the local raftkv nodes. */
  readonly nodeArgs: ReadonlyArray<string>
  /** Keep the temporary data dir of a local cluster (it is deleted otherwise). */
  readonly keepData: boolean
  /** Print progress (bar on a terminal, plain lines otherwise) to stderr. */
  readonly progress: boolean
}

export const defaultConfig: BenchConfig = {
  target: "raftkv",
  clients: 20,
  readRatio: 0,
  snapshotThresholdBytes: 4 * 1024 * 1024,
  durationMs: 60_000,
  warmupMs: 3_000,
  keySpace: 10_000,
  valueSize: 128,
  nodes: 3,
  endpoints: undefined,
  metricsEndpoints: undefined,
  sharedClient: false,
  outDir: "bench-results",
  seed: 1,
  opTimeoutMs: 5_000,
  nodeExecArgs: [],
  nodeArgs: [],
  keepData: false,
  progress: true
}

/** A configuration the bench cannot run with. */
export class InvalidBenchConfig extends Schema.TaggedError<InvalidBenchConfig>()("InvalidBenchConfig", {
  message: Schema.String
}) {}

/** The first problem with `c`, if any. */
export const validateConfig = (c: BenchConfig): InvalidBenchConfig | undefined => {
  const fail = (message: string) => new InvalidBenchConfig({ message })
  if (!Number.isInteger(c.clients) || c.clients < 1) return fail("--clients must be an integer >= 1")
  if (!(c.readRatio >= 0 && c.readRatio <= 1)) return fail("--read-ratio must be between 0 and 1")
  if (!(c.durationMs >= 1000)) return fail("--duration must be at least 1s")
  if (!(c.warmupMs >= 0)) return fail("--warmup must be >= 0")
  if (!Number.isInteger(c.keySpace) || c.keySpace < 1) return fail("--key-space must be an integer >= 1")
  if (!Number.isInteger(c.valueSize) || c.valueSize < 1 || c.valueSize > 1024 * 1024)
    return fail("--value-size must be an integer between 1 and 1048576")
  if (!Number.isInteger(c.nodes) || c.nodes < 1 || c.nodes > 9)
    return fail("--nodes must be an integer between 1 and 9")
  if (c.endpoints !== undefined && c.endpoints.length === 0) return fail("--endpoints lists no endpoints")
  if (!(c.opTimeoutMs > 0)) return fail("--op-timeout must be > 0")
  if (!(c.snapshotThresholdBytes > 0)) return fail("--snapshot-threshold must be > 0")
  return undefined
}

/** Measured seconds (the last one may be partial only if the duration is not whole seconds). */
export const measuredSeconds = (c: BenchConfig): number => Math.ceil(c.durationMs / 1000)
