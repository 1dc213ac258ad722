/**
 * `raftkv cluster`: start a local cluster of N separate node processes, print their client
 * endpoints, and stop them all gracefully on Ctrl-C (SIGINT) or SIGTERM.
 *
 * Ports from `--base-port B`: node i listens for peers on B+i, for clients on B+100+i and for
 * HTTP on B+200+i. Node i keeps its state in `<data-dir>/n<i>` and logs to `<data-dir>/n<i>.log`
 * (outside its data dir, which holds nothing but raftkv's own files).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Deferred, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { DEFAULT_BASE_PORT } from "./addresses.ts"

/** Where node i of a local cluster listens. */
export const localPorts = (basePort: number, i: number) => ({
  peer: basePort + i,
  client: basePort + 100 + i,
  http: basePort + 200 + i
})

export interface LocalClusterOptions {
  readonly nodes: number
  readonly dataDir: string
  readonly basePort: number
  /** Extra flags for every `raftkv node` (e.g. --snapshot-threshold). */
  readonly nodeArgs: ReadonlyArray<string>
}

/** A node process of the local cluster exited on its own. */
export class NodeExited extends Schema.TaggedError<NodeExited>()("NodeExited", {
  node: Schema.Number,
  code: Schema.NullOr(Schema.Number),
  log: Schema.String
}) {
  override get message(): string {
    return `node ${this.node} exited (code ${this.code}); see ${this.log}`
  }
}

export const logPath = (dataDir: string, i: number) => join(dataDir, `n${i}.log`)

const mainScript = fileURLToPath(new URL("./main.ts", import.meta.url))

/** The `raftkv node` arguments of node i of a local cluster. */
export const localNodeArgs = (o: LocalClusterOptions, i: number): string[] => {
  const ids = Array.from({ length: o.nodes }, (_, k) => k + 1)
  const peers = ids.map((id) => `${id}=127.0.0.1:${localPorts(o.basePort, id).peer}`).join(",")
  const clients = ids.map((id) => `${id}=127.0.0.1:${localPorts(o.basePort, id).client}`).join(",")
  const p = localPorts(o.basePort, i)
  return [
    "node",
    "--id",
    String(i),
    "--peers",
    peers,
    "--client",
    `127.0.0.1:${p.client}`,
    "--client-addresses",
    clients,
    "--http",
    `127.0.0.1:${p.http}`,
    "--data-dir",
    join(o.dataDir, `n${i}`),
    ...o.nodeArgs
  ]
}

/**
 * Node.js flags of local cluster nodes (measured on 2 cores, alternating pairs of 10 s runs):
 * - `--single-threaded-gc`: the nodes of a local cluster share one machine's cores (with their
 *   clients), and each process's parallel GC helper threads compete for them; at 20 clients, 6
 *   pairs: +1% to +13% ops/s (median +6.5%), 225-255 vs 229-283 us of CPU per operation.
 * - `--max-semi-space-size=8` (MiB): with V8's default young generation, a (single-threaded)
 *   scavenge stopped a node for a median 8-14 ms and up to 35-42 ms, every second or two, and
 *   every request in flight waited. With 8 MiB, scavenges are 2-4 times as frequent and take a
 *   median 3-5 ms, at most 13: p99 -14% to -35% at 20 clients (6 pairs) and -36% to -49% at 56
 *   (3 pairs); throughput -2.5% median at 20 clients, within the noise.
 * A node alone on its machine (`raftkv node`) keeps Node's defaults.
 */
export const LOCAL_NODE_EXEC_ARGS: ReadonlyArray<string> = ["--single-threaded-gc", "--max-semi-space-size=8"]

/** Start node i as a child process (same Node runtime as this one), logging to its data dir. */
export const spawnNode = (o: LocalClusterOptions, i: number): ChildProcess => {
  mkdirSync(o.dataDir, { recursive: true })
  const log = createWriteStream(logPath(o.dataDir, i), { flags: "a" })
  const child = spawn(process.execPath, [...LOCAL_NODE_EXEC_ARGS, mainScript, ...localNodeArgs(o, i)], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  return child
}

const stopAll = (children: ReadonlyArray<ChildProcess>) =>
  Effect.promise(() =>
    Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done()
            c.once("exit", () => done())
            c.kill("SIGTERM")
            // A node that does not stop within 10 s is killed.
            setTimeout(() => c.kill("SIGKILL"), 10_000).unref()
          })
      )
    )
  )

/** Run the cluster until interrupted (Ctrl-C) or until every node has exited. */
export const runLocalCluster = (o: LocalClusterOptions) =>
  Effect.gen(function* () {
    const dataDir = resolve(o.dataDir)
    const options = { ...o, dataDir }
    // A node that dies is reported and the others keep serving (a majority is all Raft needs);
    // the command ends, failing, once every node is gone.
    const allExited = yield* Deferred.make<never, NodeExited>()
    let running = o.nodes
    let stopping = false
    const children = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Array.from({ length: o.nodes }, (_, k) => {
          const child = spawnNode(options, k + 1)
          child.once("exit", (code) => {
            const error = new NodeExited({ node: k + 1, code, log: logPath(dataDir, k + 1) })
            if (!stopping) process.stderr.write(`raftkv: ${error.message}\n`)
            if (--running === 0) Deferred.doneUnsafe(allExited, Effect.fail(error))
          })
          return child
        })
      ),
      (children) =>
        Effect.suspend(() => {
          stopping = true
          return stopAll(children)
        })
    )
    const endpoints = children.map((_, k) => `127.0.0.1:${localPorts(o.basePort, k + 1).client}`)
    yield* Effect.sync(() => {
      process.stdout.write(`raftkv: local cluster of ${o.nodes} nodes (data in ${dataDir})\n`)
      children.forEach((_, k) => {
        const p = localPorts(o.basePort, k + 1)
        process.stdout.write(
          `  node ${k + 1}: client 127.0.0.1:${p.client}  http http://127.0.0.1:${p.http}/status  log ${logPath(dataDir, k + 1)}\n`
        )
      })
      process.stdout.write(`endpoints: ${endpoints.join(",")}\nPress Ctrl-C to stop.\n`)
    })
    return yield* Deferred.await(allExited)
  }).pipe(Effect.scoped)

export const clusterCommand = Command.make(
  "cluster",
  {
    nodes: Flag.Int("nodes").pipe(
      Flag.withDescription("Number of node processes (3 or 5)"),
      Flag.withDefault(3)
    ),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withDescription("Base data directory"),
      Flag.withDefault("./data")
    ),
    basePort: Flag.Int("base-port").pipe(
      Flag.withDescription("Ports: peers base+i, clients base+100+i, http base+200+i"),
      Flag.withDefault(DEFAULT_BASE_PORT)
    ),
    snapshotThreshold: Flag.String("snapshot-threshold").pipe(
      Flag.withDescription("Passed to every node (e.g. 4MiB)"),
      Flag.withDefault("4MiB")
    )
  },
  (f) =>
    runLocalCluster({
      nodes: f.nodes,
      dataDir: f.dataDir,
      basePort: f.basePort,
      nodeArgs: ["--snapshot-threshold", f.snapshotThreshold]
    })
).pipe(Command.withDescription("Start a local cluster of separate node processes; Ctrl-C stops them all"))
