/**
 * What the load loop needs from a system under test, whatever it is (raftkv or etcd).
 */
import type { TargetName } from "./config.ts"

/** One client of the system under test. Promises reject with the client's own error. */
export interface BenchClient {
  readonly put: (key: string, value: Uint8Array) => Promise<void>
  /** A linearizable read. */
  readonly get: (key: string) => Promise<void>
  readonly close: () => Promise<void>
}

/** One member of the cluster under test, as the sampler sees it. */
export interface Member {
  readonly node: number
  /** Its process, when the bench started it (CPU and RSS come from /proc). */
  readonly pid: number | undefined
  /** Its Prometheus endpoint (`http://host:port/metrics`), if any. */
  readonly metricsUrl: string | undefined
}

/** Which of a target's metrics say what. */
export interface MetricNames {
  /** Histogram of one synced write (fsync) to the log. */
  readonly persist: string
  /** Counter of leader changes seen by a member. */
  readonly leaderChanges: string
  /** Counter of snapshots taken by a member. */
  readonly snapshots: string
  /** A gauge that is positive on the leader only (with these labels). */
  readonly isLeader: { readonly name: string; readonly labels: Readonly<Record<string, string>> }
  readonly cpuSeconds: string
  readonly residentBytes: string
}

/** A running system under test (started by the bench or given by --endpoints). */
export interface Target {
  readonly name: TargetName
  /** Software version, for the results. */
  readonly version: string
  readonly endpoints: ReadonlyArray<string>
  readonly members: ReadonlyArray<Member>
  readonly metrics: MetricNames
  /** A new client with its own connections. */
  readonly newClient: () => Promise<BenchClient>
  /** The leader's member number as the cluster reports it now (undefined: none or unknown). */
  readonly leader: () => Promise<{ readonly node: number; readonly term: number } | undefined>
}

/** A short, stable name for an error (its tag, else its class name). */
export const errorKind = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { readonly _tag?: unknown })._tag
    if (typeof tag === "string") return tag
    const name = (error as { readonly name?: unknown }).name
    if (typeof name === "string" && name !== "Error") return name
    const code = (error as { readonly code?: unknown }).code
    if (typeof code === "string") return code
  }
  return "Error"
}
