/**
 * etcd as the system under test: a local cluster of etcd 3.4 members (the Debian package
 * `etcd-server`; fsync on, default snapshot settings) started in a temporary dir on free ports
 * and stopped with the scope, driven through the npm `etcd3` client. Reads are linearizable GETs
 * (etcd3's default; serializable reads are not used).
 */
import { execFileSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Effect, type Scope } from "effect"
import { Etcd3 } from "etcd3"
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
import { parseExposition, sumOf } from "./prom-text.ts"
import type { BenchClient, Member, MetricNames, Target } from "./target.ts"

export const etcdMetrics: MetricNames = {
  persist: "etcd_disk_wal_fsync_duration_seconds",
  leaderChanges: "etcd_server_leader_changes_seen_total",
  snapshots: "etcd_debugging_snap_save_total_duration_seconds_count",
  isLeader: { name: "etcd_server_is_leader", labels: {} },
  cpuSeconds: "process_cpu_seconds_total",
  residentBytes: "process_resident_memory_bytes"
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The etcd binary: $ETCD_BIN, else `etcd` on the PATH, else /usr/bin/etcd; undefined if none. */
export const findEtcd = (): string | undefined => {
  const fromEnv = process.env.ETCD_BIN
  if (fromEnv !== undefined && fromEnv !== "") return isExecutable(fromEnv) ? fromEnv : undefined
  const onPath = (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "etcd"))
  return [...onPath, "/usr/bin/etcd"].find(isExecutable)
}

export const etcdMissing =
  "etcd is not installed: install the Debian package etcd-server (apt-get install -y etcd-server) or set ETCD_BIN to an etcd 3.4 binary"

const etcdVersion = (bin: string): string => {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 })
    return `etcd ${/etcd Version: (\S+)/.exec(out)?.[1] ?? "unknown"}`
  } catch {
    return "etcd unknown"
  }
}

/** A bench client over one etcd3 client (its own gRPC channel). */
export const etcdClient = (endpoints: ReadonlyArray<string>, opTimeoutMs: number): BenchClient => {
  const client = new Etcd3({
    hosts: endpoints.map((e) => `http://${e}`),
    defaultCallOptions: () => ({ deadline: Date.now() + opTimeoutMs })
  })
  return {
    put: (key, value) =>
      client
        .put(key)
        .value(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
        .exec()
        .then(() => undefined),
    get: (key) =>
      client
        .get(key)
        .exec()
        .then(() => undefined),
    close: async () => client.close()
  }
}

const healthy = async (endpoint: string): Promise<boolean> => {
  const response = await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(1000) })
  const body = (await response.json()) as { readonly health?: unknown }
  return response.ok && body.health === "true"
}

const leaderByMetrics = async (members: ReadonlyArray<Member>) => {
  for (const m of members) {
    if (m.metricsUrl === undefined) continue
    const text = await fetch(m.metricsUrl, { signal: AbortSignal.timeout(900) })
      .then((r) => r.text())
      .catch(() => "")
    if ((sumOf(parseExposition(text), "etcd_server_is_leader") ?? 0) > 0) return { node: m.node, term: 0 }
  }
  return undefined
}

const makeTarget = (
  config: BenchConfig,
  version: string,
  endpoints: ReadonlyArray<string>,
  members: ReadonlyArray<Member>
): Target => ({
  name: "etcd",
  version,
  endpoints,
  members,
  metrics: etcdMetrics,
  newClient: async () => etcdClient(endpoints, config.opTimeoutMs),
  leader: () => leaderByMetrics(members)
})

/** An existing etcd cluster (--endpoints are its client URLs' host:port; metrics are served there). */
export const existingEtcd = (config: BenchConfig, endpoints: ReadonlyArray<string>): Effect.Effect<Target> =>
  Effect.sync(() =>
    makeTarget(
      config,
      "etcd (existing cluster)",
      endpoints,
      endpoints.map((e, k) => ({ node: k + 1, pid: undefined, metricsUrl: `http://${e}/metrics` }))
    )
  )

/**
 * A fresh local etcd cluster of `config.nodes` members on free ports, in a temporary dir; the
 * scope stops the members (SIGTERM, SIGKILL after 10 s), copies their logs to `<out>/nodes` and
 * deletes the dir (unless keepData).
 */
export const localEtcd = (config: BenchConfig): Effect.Effect<Target, BenchSetupFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = findEtcd()
    if (bin === undefined) return yield* new BenchSetupFailed({ message: etcdMissing })
    const version = etcdVersion(bin)
    const ids = Array.from({ length: config.nodes }, (_, k) => k + 1)
    const base = yield* freeBasePort(ids.flatMap((i) => [i, 50 + i]))
    const client = (i: number) => `127.0.0.1:${base + i}`
    const peer = (i: number) => `http://127.0.0.1:${base + 50 + i}`
    const log = (dir: string, i: number) => join(dir, `m${i}.log`)
    const dir = yield* scopedDataDir({
      prefix: "etcd-bench-",
      outDir: config.outDir,
      keepData: config.keepData,
      logs: ids.map((i) => ({ path: (d: string) => log(d, i), name: `m${i}.log` }))
    })
    const cluster = ids.map((i) => `m${i}=${peer(i)}`).join(",")
    const token = `bench-${randomBytes(6).toString("hex")}`
    const children: ChildProcess[] = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ids.map((i) =>
          spawnLogged(
            bin,
            [
              "--name",
              `m${i}`,
              "--data-dir",
              join(dir, `m${i}`),
              "--listen-client-urls",
              `http://${client(i)}`,
              "--advertise-client-urls",
              `http://${client(i)}`,
              "--listen-peer-urls",
              peer(i),
              "--initial-advertise-peer-urls",
              peer(i),
              "--initial-cluster",
              cluster,
              "--initial-cluster-state",
              "new",
              "--initial-cluster-token",
              token,
              "--logger",
              "zap",
              "--log-outputs",
              "stderr"
            ],
            log(dir, i),
            // etcd reads ETCD_* variables as flags: keep the caller's out of its configuration
            // (all but the one that lets it run on a non-amd64 machine).
            Object.fromEntries(
              Object.entries(process.env).filter(
                ([k]) => !k.startsWith("ETCD_") || k === "ETCD_UNSUPPORTED_ARCH"
              )
            )
          )
        )
      ),
      (cs) => Effect.promise(() => stopChildren(cs))
    )
    const endpoints = ids.map(client)
    const members: Member[] = ids.map((i, k) => ({
      node: i,
      pid: children[k]!.pid,
      metricsUrl: `http://${client(i)}/metrics`
    }))
    const died = () => {
      const k = children.findIndex(hasExited)
      if (k < 0) return undefined
      const c = children[k]!
      return `etcd member ${k + 1} exited (code ${c.exitCode ?? c.signalCode}); its log:\n${tailOf(log(dir, k + 1))}`
    }
    yield* waitUntil(
      "etcd cluster",
      () => Promise.all(endpoints.map(healthy)).then((ok) => ok.every(Boolean)),
      died,
      60_000
    )
    return makeTarget(config, version, endpoints, members)
  })
