/**
 * raftkv as the system under test: a fresh local cluster of separate node processes in a
 * temporary data dir (or an existing cluster given by --endpoints), driven through the SDK.
 */
import type { ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"
import { LOCAL_NODE_EXEC_ARGS, localNodeArgs, localPorts, logPath } from "../cli/cluster-command.ts"
import { connect, type KvConnection } from "../client/index.ts"
import type { BenchConfig } from "./config.ts"
import {
  BenchSetupFailed,
  freeBasePort,
  hasExited,
  scopedDataDir,
  spawnLogged,
  stopChildren,
  tailOf,
  waitUntil
} from "./processes.ts"
import type { BenchClient, Member, MetricNames, Target } from "./target.ts"

const mainScript = fileURLToPath(new URL("../cli/main.ts", import.meta.url))

export const raftkvMetrics: MetricNames = {
  persist: "raftkv_raft_persist_duration_seconds",
  leaderChanges: "raftkv_raft_leader_changes_total",
  snapshots: "raftkv_kv_snapshots_total",
  isLeader: { name: "raftkv_raft_role", labels: { role: "leader" } },
  cpuSeconds: "process_cpu_seconds_total",
  residentBytes: "process_resident_memory_bytes"
}

/** A bench client over one SDK client (its own session and connections). */
export const sdkClient = (kv: KvConnection): BenchClient => ({
  put: (key, value) => kv.put(key, value).then(() => undefined),
  get: (key) => kv.get(key).then(() => undefined),
  close: () => kv.close()
})

/** The leader and term most nodes report (none when no node claims to lead). */
const leaderOf = async (kv: KvConnection): Promise<{ node: number; term: number } | undefined> => {
  const reports = await kv.clusterStatus({ timeoutMs: 1000 })
  let best: { node: number; term: number } | undefined
  for (const r of reports) {
    if (!("status" in r)) continue
    const s = r.status
    if (s.role === "leader" && (best === undefined || s.term > best.term)) best = { node: s.id, term: s.term }
  }
  return best
}

/** Every node answers, one of them leads, and all of them know it. */
const clusterReady = async (kv: KvConnection, nodes: number): Promise<boolean> => {
  const reports = await kv.clusterStatus({ timeoutMs: 1000 })
  const statuses = reports.flatMap((r) => ("status" in r ? [r.status] : []))
  if (statuses.length < nodes) return false
  const leader = statuses.find((s) => s.role === "leader")
  return leader !== undefined && statuses.every((s) => s.leader === leader.id && s.term === leader.term)
}

const makeTarget = (
  config: BenchConfig,
  endpoints: ReadonlyArray<string>,
  members: ReadonlyArray<Member>,
  status: KvConnection
): Target => ({
  name: "raftkv",
  version: "raftkv 0.1.0",
  endpoints,
  members,
  metrics: raftkvMetrics,
  newClient: () => connect({ endpoints, timeoutMs: config.opTimeoutMs }).then(sdkClient),
  leader: () => leaderOf(status)
})

/** A client for status polling, closed with the scope. */
const statusClient = (endpoints: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => connect({ endpoints, timeoutMs: 2000 }),
      catch: (e) => new BenchSetupFailed({ message: `raftkv client: ${String(e)}` })
    }),
    (kv) => Effect.promise(() => kv.close().catch(() => undefined))
  )

/** An existing cluster (--endpoints), with its metrics if --metrics-endpoints names them. */
export const existingRaftkv = (
  config: BenchConfig,
  endpoints: ReadonlyArray<string>
): Effect.Effect<Target, BenchSetupFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const status = yield* statusClient(endpoints)
    const metrics = config.metricsEndpoints ?? []
    const members: Member[] = (metrics.length > 0 ? metrics : endpoints).map((m, k) => ({
      node: k + 1,
      pid: undefined,
      metricsUrl: metrics.length > 0 ? `http://${m}/metrics` : undefined
    }))
    yield* waitUntil(
      "raftkv cluster",
      () => leaderOf(status).then((l) => l !== undefined),
      () => undefined,
      30_000
    )
    return makeTarget(config, endpoints, members, status)
  })

/**
 * A fresh local cluster of `config.nodes` node processes on free ports, in a temporary data dir;
 * the scope stops them (SIGTERM, SIGKILL after 10 s), copies their logs to `<out>/nodes` and
 * deletes the data dir (unless keepData).
 */
export const localRaftkv = (config: BenchConfig): Effect.Effect<Target, BenchSetupFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const n = config.nodes
    const ids = Array.from({ length: n }, (_, k) => k + 1)
    const basePort = yield* freeBasePort(ids.flatMap((i) => [i, 100 + i, 200 + i]))
    const dataDir = yield* scopedDataDir({
      prefix: "raftkv-bench-",
      outDir: config.outDir,
      keepData: config.keepData,
      logs: ids.map((i) => ({ path: (dir: string) => logPath(dir, i), name: `n${i}.log` }))
    })
    const options = {
      nodes: n,
      dataDir,
      basePort,
      nodeArgs: ["--snapshot-threshold", String(config.snapshotThresholdBytes), ...config.nodeArgs]
    }
    const children: ChildProcess[] = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ids.map((i) =>
          spawnLogged(
            process.execPath,
            [...LOCAL_NODE_EXEC_ARGS, ...config.nodeExecArgs, mainScript, ...localNodeArgs(options, i)],
            logPath(dataDir, i)
          )
        )
      ),
      (cs) => Effect.promise(() => stopChildren(cs))
    )
    const endpoints = ids.map((i) => `127.0.0.1:${localPorts(basePort, i).client}`)
    const members: Member[] = ids.map((i, k) => ({
      node: i,
      pid: children[k]!.pid,
      metricsUrl: `http://127.0.0.1:${localPorts(basePort, i).http}/metrics`
    }))
    const status = yield* statusClient(endpoints)
    const died = () => {
      const k = children.findIndex(hasExited)
      if (k < 0) return undefined
      const c = children[k]!
      return `raftkv node ${k + 1} exited (code ${c.exitCode ?? c.signalCode}); its log:\n${tailOf(logPath(dataDir, k + 1))}`
    }
    yield* waitUntil("raftkv cluster", () => clusterReady(status, n), died, 60_000)
    return makeTarget(config, endpoints, members, status)
  })
