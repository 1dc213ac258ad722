/**
 * `results.json`: everything one run measured, and the one-line summary printed at its end.
 */
import { availableParallelism } from "node:os"
import type { BenchConfig } from "./config.ts"
import { type Percentiles, percentiles, type Recorder } from "./recorder.ts"
import type { MemberTotals, PersistSecond, SamplerReport } from "./sampler.ts"

export interface PerSecond {
  /** 1 for the first measured second. */
  readonly second: number
  readonly ops: number
  readonly reads: number
  readonly writes: number
  readonly errors: number
  readonly errorsByKind: Readonly<Record<string, number>>
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Per member (in member order): synced writes in this second, null when unreadable. */
  readonly persist: ReadonlyArray<PersistSecond | null>
  /** Snapshots taken in this second, all members together (as far as their metrics were read). */
  readonly snapshots: number
  /** Leader changes seen in this second (the most any member saw). */
  readonly leaderChanges: number
  readonly cpuPercent: ReadonlyArray<number | null>
  /** Per member: of `cpuPercent`, V8's helper threads (JIT compilers, GC helpers). */
  readonly v8WorkerCpuPercent: ReadonlyArray<number | null>
  readonly leader: number | null
  readonly machineBusyPercent: number | null
  readonly benchCpuPercent: number | null
}

export interface NodeTotals extends MemberTotals {
  /** Average percent of one core over the window. */
  readonly cpuPercent: number | null
  /** CPU time per completed operation. */
  readonly cpuMsPerOp: number | null
  /** Time its threads waited for a core, per completed operation. */
  readonly runQueueMsPerOp: number | null
  /** CPU time of its V8 helper threads (JIT compilers, GC helpers) per operation, in `cpuMsPerOp`. */
  readonly v8WorkerMsPerOp: number | null
}

export interface Summary {
  readonly target: string
  readonly clients: number
  readonly readRatio: number
  readonly opsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

export interface Results {
  readonly version: 1
  readonly startedAt: string
  readonly finishedAt: string
  readonly config: Omit<BenchConfig, "progress"> & { readonly endpointsUsed: ReadonlyArray<string> }
  readonly environment: {
    readonly target: string
    readonly node: string
    readonly cpus: number
    readonly commit: string | null
    readonly load1Start: number | null
    readonly load1End: number | null
    readonly machineBusyPercent: number | null
  }
  readonly totals: {
    readonly seconds: number
    readonly ops: number
    readonly reads: number
    readonly writes: number
    readonly errors: number
    readonly opsPerSec: number
    readonly warmupOps: number
    readonly warmupErrors: number
  }
  readonly latency: Percentiles
  readonly readLatency: Percentiles
  readonly writeLatency: Percentiles
  readonly errorsByKind: Readonly<Record<string, number>>
  readonly perSecond: ReadonlyArray<PerSecond>
  readonly persistence: {
    readonly metric: string
    /** Per member over the window: synced writes, their mean duration. */
    readonly perNode: ReadonlyArray<{
      readonly node: number
      readonly count: number | null
      readonly meanMs: number | null
    }>
  }
  readonly leaderChanges: SamplerReport["leaderChanges"]
  readonly snapshots: SamplerReport["snapshots"] & {
    readonly perNode: ReadonlyArray<{ readonly node: number; readonly count: number | null }>
  }
  readonly nodes: ReadonlyArray<NodeTotals>
  readonly loadGenerator: {
    readonly cpuSeconds: number
    readonly cpuMsPerOp: number | null
    readonly runQueueMsPerOp: number | null
    readonly v8WorkerMsPerOp: number | null
    readonly rssBytesMax: number
    readonly clientsConnections: "per-client" | "shared"
  }
  readonly charts: ReadonlyArray<string>
  readonly summary: Summary
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits

/** Milliseconds of `seconds` per completed operation. */
const perOp = (seconds: number | null, ops: number): number | null =>
  seconds === null || ops === 0 ? null : round((1000 * seconds) / ops, 4)

const countErrors = (m: ReadonlyMap<string, number>): number => {
  let n = 0
  for (const v of m.values()) n += v
  return n
}

export interface BuildInput {
  readonly config: BenchConfig
  readonly targetVersion: string
  readonly endpoints: ReadonlyArray<string>
  readonly recorder: Recorder
  readonly sampled: SamplerReport
  readonly persistMetric: string
  readonly startedAt: Date
  readonly finishedAt: Date
  readonly commit: string | null
  readonly charts: ReadonlyArray<string>
}

export const buildResults = (input: BuildInput): Results => {
  const { config, recorder, sampled } = input
  const seconds = recorder.seconds.length
  const perSecond: PerSecond[] = recorder.seconds.map((s, k) => {
    const both = recorder.second(k)
    const p = percentiles(both)
    const sample = sampled.perSecond[k]
    return {
      second: k + 1,
      ops: both.totalCount,
      reads: s.reads.totalCount,
      writes: s.writes.totalCount,
      errors: countErrors(s.errors),
      errorsByKind: Object.fromEntries(s.errors),
      p50Ms: p.p50Ms,
      p99Ms: p.p99Ms,
      maxMs: p.maxMs,
      persist: sample?.members.map((m) => m.persist) ?? [],
      snapshots: sample?.members.reduce((a, m) => a + (m.snapshots ?? 0), 0) ?? 0,
      leaderChanges: Math.max(0, ...(sample?.members.map((m) => m.leaderChanges ?? 0) ?? [])),
      cpuPercent: sample?.members.map((m) => (m.cpuPercent === null ? null : round(m.cpuPercent, 1))) ?? [],
      v8WorkerCpuPercent:
        sample?.members.map((m) => (m.v8WorkerCpuPercent === null ? null : round(m.v8WorkerCpuPercent, 1))) ??
        [],
      leader: sample?.leader ?? null,
      machineBusyPercent: sample?.machineBusyPercent == null ? null : round(sample.machineBusyPercent, 1),
      benchCpuPercent: sample === undefined ? null : round(sample.benchCpuPercent, 1)
    }
  })
  const ops = perSecond.reduce((a, s) => a + s.ops, 0)
  const errorsByKind: Record<string, number> = {}
  for (const s of perSecond) {
    for (const [k, v] of Object.entries(s.errorsByKind)) errorsByKind[k] = (errorsByKind[k] ?? 0) + v
  }
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0)
  const measuredSeconds = config.durationMs / 1000
  const opsPerSec = round(ops / measuredSeconds, 1)
  const latency = percentiles(recorder.merged("all"))
  const nodes = sampled.members.map(
    (m): NodeTotals => ({
      ...m,
      cpuPercent: m.cpuSeconds === null ? null : round((100 * m.cpuSeconds) / measuredSeconds, 1),
      cpuMsPerOp: perOp(m.cpuSeconds, ops),
      runQueueMsPerOp: perOp(m.runQueueSeconds, ops),
      v8WorkerMsPerOp: perOp(m.v8WorkerCpuSeconds, ops)
    })
  )
  const { progress: _progress, ...shownConfig } = config
  const summary: Summary = {
    target: config.target,
    clients: config.clients,
    readRatio: config.readRatio,
    opsPerSec,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    errors
  }
  return {
    version: 1,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    config: { ...shownConfig, endpointsUsed: input.endpoints },
    environment: {
      target: input.targetVersion,
      node: process.version,
      cpus: availableParallelism(),
      commit: input.commit,
      load1Start: sampled.machine.load1Start,
      load1End: sampled.machine.load1End,
      machineBusyPercent: sampled.machine.busyPercent
    },
    totals: {
      seconds,
      ops,
      reads: perSecond.reduce((a, s) => a + s.reads, 0),
      writes: perSecond.reduce((a, s) => a + s.writes, 0),
      errors,
      opsPerSec,
      warmupOps: recorder.warmupOps,
      warmupErrors: recorder.warmupErrors
    },
    latency,
    readLatency: percentiles(recorder.merged("read")),
    writeLatency: percentiles(recorder.merged("write")),
    errorsByKind,
    perSecond,
    persistence: {
      metric: input.persistMetric,
      perNode: sampled.members.map((m) => ({ node: m.node, count: m.persistCount, meanMs: m.persistMeanMs }))
    },
    leaderChanges: sampled.leaderChanges,
    snapshots: {
      ...sampled.snapshots,
      perNode: sampled.members.map((m) => ({ node: m.node, count: m.snapshots }))
    },
    nodes,
    loadGenerator: {
      cpuSeconds: round(sampled.bench.cpuSeconds),
      cpuMsPerOp: perOp(sampled.bench.cpuSeconds, ops),
      runQueueMsPerOp: perOp(sampled.bench.runQueueSeconds, ops),
      v8WorkerMsPerOp: perOp(sampled.bench.v8WorkerCpuSeconds, ops),
      rssBytesMax: sampled.bench.rssBytesMax,
      clientsConnections: config.sharedClient ? "shared" : "per-client"
    },
    charts: input.charts,
    summary
  }
}
