/**
 * Once a second during the measured window, read every member's metrics (persistence latency,
 * leader changes, snapshots) and its process's CPU time and memory, plus the machine's load and
 * the bench process's own CPU.
 *
 * A second's figures are the difference between the readings at its start and its end. A member
 * that cannot be read at the end of a second gets nothing for it; the next successful reading is
 * compared with the last successful one (and attributed to the second it ends).
 */
import { setTimeout as sleep } from "node:timers/promises"
import {
  busyPercent,
  type MachineSample,
  type ProcessSample,
  runQueueSeconds,
  sampleMachine,
  sampleProcess,
  v8WorkerCpuSeconds
} from "./proc.ts"
import {
  type HistogramState,
  histogramDelta,
  histogramOf,
  parseExposition,
  quantileOf,
  type Sample,
  sumOf
} from "./prom-text.ts"
import type { Member, Target } from "./target.ts"

/** One member's persistence (synced write) latency in one second. */
export interface PersistSecond {
  /** Synced writes (fsyncs) completed in the second. */
  readonly count: number
  readonly meanMs: number
  /** Estimated from the histogram's buckets (linear interpolation). */
  readonly p50Ms: number
  readonly p99Ms: number
}

export interface MemberSecond {
  readonly persist: PersistSecond | null
  /** Snapshots the member took in the second (null: its metrics could not be read). */
  readonly snapshots: number | null
  /** Leader changes the member saw in the second. */
  readonly leaderChanges: number | null
  /** Percent of one core used in the second. */
  readonly cpuPercent: number | null
  /** Of which V8's helper threads (JIT compilers, GC helpers); null when not a local process. */
  readonly v8WorkerCpuPercent: number | null
  readonly rssBytes: number | null
}

export interface SampledSecond {
  readonly members: ReadonlyArray<MemberSecond>
  /** Member number believed to lead at the end of the second (null: none or unknown). */
  readonly leader: number | null
  /** Percent of all cores of the machine busy. */
  readonly machineBusyPercent: number | null
  /** Percent of one core used by the bench process itself. */
  readonly benchCpuPercent: number
}

interface Reading {
  readonly at: number
  readonly samples: ReadonlyArray<Sample> | undefined
  readonly process: ProcessSample | undefined
  /** When `samples` and `process` were read (they may be older than `at` after a failed read). */
  readonly samplesAt: number
  readonly processAt: number
}

const scrape = async (url: string): Promise<ReadonlyArray<Sample> | undefined> => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(900) })
    if (!response.ok) return undefined
    return parseExposition(await response.text())
  } catch {
    return undefined
  }
}

const readMember = async (m: Member): Promise<Reading> => {
  const samples = m.metricsUrl === undefined ? undefined : await scrape(m.metricsUrl)
  const at = Date.now()
  return {
    at,
    samples,
    process: m.pid === undefined ? undefined : sampleProcess(m.pid),
    samplesAt: at,
    processAt: at
  }
}

const ms = (seconds: number) => Math.round(seconds * 1e6) / 1000

const persistOf = (h: HistogramState): PersistSecond => ({
  count: h.count,
  meanMs: h.count === 0 ? 0 : ms(h.sum / h.count),
  p50Ms: ms(quantileOf(h, 0.5) ?? 0),
  p99Ms: ms(quantileOf(h, 0.99) ?? 0)
})

/** Totals of one member over the whole window. */
export interface MemberTotals {
  readonly node: number
  readonly pid: number | null
  readonly metricsAvailable: boolean
  readonly cpuSeconds: number | null
  /** Seconds its threads waited for a core (from /proc; null when not a local process). */
  readonly runQueueSeconds: number | null
  /** CPU seconds of its V8 helper threads, part of `cpuSeconds` (null when not a local process). */
  readonly v8WorkerCpuSeconds: number | null
  readonly rssBytesMax: number | null
  readonly rssBytesEnd: number | null
  readonly leaderChanges: number | null
  readonly snapshots: number | null
  readonly persistCount: number | null
  readonly persistMeanMs: number | null
}

export interface SamplerReport {
  readonly perSecond: ReadonlyArray<SampledSecond>
  readonly members: ReadonlyArray<MemberTotals>
  readonly leaderChanges: { readonly count: number | null; readonly source: "metrics" | "observed" | "none" }
  readonly snapshots: { readonly count: number | null; readonly source: "metrics" | "none" }
  readonly bench: {
    readonly cpuSeconds: number
    readonly runQueueSeconds: number | null
    readonly v8WorkerCpuSeconds: number | null
    readonly rssBytesMax: number
  }
  readonly machine: {
    readonly busyPercent: number | null
    readonly load1Start: number | null
    readonly load1End: number | null
  }
}

/**
 * Growth of a sum over a process's threads (run-queue wait, helper threads' CPU) between two
 * readings; null when either is missing, or when it went down (a thread exited in between, so
 * the sum no longer covers the same threads).
 */
const threadSumDelta = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || b < a ? null : Math.round((b - a) * 1000) / 1000

export class Sampler {
  readonly target: Target
  private readonly first: Reading[] = []
  private readonly last: Reading[] = []
  private readonly rssMax: number[] = []
  private machineStart: MachineSample | undefined
  private machineLast: MachineSample | undefined
  private benchCpuStart = process.cpuUsage()
  private benchCpuLast = process.cpuUsage()
  private benchWaitStart = runQueueSeconds(process.pid)
  private benchWaitLast = this.benchWaitStart
  private benchV8Start = v8WorkerCpuSeconds(process.pid)
  private benchV8Last = this.benchV8Start
  private benchRssMax = 0
  private readonly seconds: SampledSecond[] = []
  private leaderStart: number | null = null

  constructor(target: Target) {
    this.target = target
  }

  private cpuOf(r: Reading | undefined): number | undefined {
    if (r === undefined) return undefined
    if (r.process !== undefined) return r.process.cpuSeconds
    return r.samples === undefined ? undefined : sumOf(r.samples, this.target.metrics.cpuSeconds)
  }

  private rssOf(r: Reading | undefined): number | undefined {
    if (r === undefined) return undefined
    if (r.process !== undefined) return r.process.rssBytes
    return r.samples === undefined ? undefined : sumOf(r.samples, this.target.metrics.residentBytes)
  }

  private async leaderNow(readings: ReadonlyArray<Reading>): Promise<number | null> {
    const names = this.target.metrics
    let metricsSeen = false
    for (let i = 0; i < readings.length; i++) {
      const s = readings[i]!.samples
      if (s === undefined) continue
      const v = sumOf(s, names.isLeader.name, names.isLeader.labels)
      if (v === undefined) continue
      metricsSeen = true
      if (v > 0) return this.target.members[i]!.node
    }
    if (metricsSeen) return null
    const l = await this.target.leader().catch(() => undefined)
    return l?.node ?? null
  }

  /** The baseline reading, at the start of the measured window. */
  async start(): Promise<void> {
    const readings = await Promise.all(this.target.members.map(readMember))
    readings.forEach((r, i) => {
      this.first[i] = r
      this.last[i] = r
      this.rssMax[i] = this.rssOf(r) ?? 0
    })
    this.machineStart = sampleMachine()
    this.machineLast = this.machineStart
    this.benchCpuStart = process.cpuUsage()
    this.benchCpuLast = this.benchCpuStart
    this.benchWaitStart = runQueueSeconds(process.pid)
    this.benchWaitLast = this.benchWaitStart
    this.benchV8Start = v8WorkerCpuSeconds(process.pid)
    this.benchV8Last = this.benchV8Start
    this.leaderStart = await this.leaderNow(readings)
  }

  /** Keep the parts of `r` that could be read as the member's latest. */
  private remember(i: number, r: Reading): void {
    const prev = this.last[i]!
    this.last[i] = {
      at: r.at,
      samples: r.samples ?? prev.samples,
      process: r.process ?? prev.process,
      samplesAt: r.samples === undefined ? prev.samplesAt : r.at,
      processAt: r.process === undefined ? prev.processAt : r.at
    }
  }

  /** The reading at the end of a second. */
  async tick(): Promise<SampledSecond> {
    const readings = await Promise.all(this.target.members.map(readMember))
    const members = readings.map((r, i): MemberSecond => {
      const prev = this.last[i]!
      const before =
        prev.samples === undefined ? undefined : histogramOf(prev.samples, this.target.metrics.persist)
      const after = r.samples === undefined ? undefined : histogramOf(r.samples, this.target.metrics.persist)
      const delta = before && after ? histogramDelta(before, after) : undefined
      const counter = (name: string): number | null => {
        const a = prev.samples === undefined ? undefined : sumOf(prev.samples, name)
        const b = r.samples === undefined ? undefined : sumOf(r.samples, name)
        return a === undefined || b === undefined ? null : b - a
      }
      const cpu0 = this.cpuOf(prev)
      const cpu1 = this.cpuOf(r)
      const since = r.process !== undefined ? prev.processAt : prev.samplesAt
      const elapsed = Math.max(1, r.at - since) / 1000
      const v8 = threadSumDelta(prev.process?.v8WorkerCpuSeconds, r.process?.v8WorkerCpuSeconds)
      const rss = this.rssOf(r)
      if (rss !== undefined) this.rssMax[i] = Math.max(this.rssMax[i] ?? 0, rss)
      this.remember(i, r)
      return {
        persist: delta === undefined ? null : persistOf(delta),
        snapshots: counter(this.target.metrics.snapshots),
        leaderChanges: counter(this.target.metrics.leaderChanges),
        cpuPercent: cpu0 !== undefined && cpu1 !== undefined ? (100 * (cpu1 - cpu0)) / elapsed : null,
        v8WorkerCpuPercent: v8 === null ? null : (100 * v8) / elapsed,
        rssBytes: rss ?? null
      }
    })
    const machine = sampleMachine()
    const machineBusy =
      machine !== undefined && this.machineLast !== undefined ? busyPercent(this.machineLast, machine) : null
    if (machine !== undefined) this.machineLast = machine
    const cpu = process.cpuUsage()
    const benchCpuPercent = (cpu.user + cpu.system - this.benchCpuLast.user - this.benchCpuLast.system) / 1e4
    this.benchCpuLast = cpu
    this.benchWaitLast = runQueueSeconds(process.pid) ?? this.benchWaitLast
    this.benchV8Last = v8WorkerCpuSeconds(process.pid) ?? this.benchV8Last
    this.benchRssMax = Math.max(this.benchRssMax, process.memoryUsage.rss())
    const second: SampledSecond = {
      members,
      leader: await this.leaderNow(readings),
      machineBusyPercent: machineBusy,
      benchCpuPercent
    }
    this.seconds.push(second)
    return second
  }

  /**
   * The baseline reading at `startAt` (performance.now() time), then a tick at each whole second
   * after it, `seconds` ticks in all.
   */
  async run(startAt: number, seconds: number, now: () => number, signal: AbortSignal): Promise<void> {
    const until = async (at: number) => {
      const wait = at - now()
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined)
    }
    await until(startAt)
    if (signal.aborted) return
    await this.start()
    for (let k = 1; k <= seconds && !signal.aborted; k++) {
      await until(startAt + k * 1000)
      if (signal.aborted) return
      await this.tick()
    }
  }

  report(): SamplerReport {
    const names = this.target.metrics
    const counterDelta = (i: number, name: string): number | null => {
      const a = this.first[i]?.samples
      const b = this.last[i]?.samples
      const x = a === undefined ? undefined : sumOf(a, name)
      const y = b === undefined ? undefined : sumOf(b, name)
      return x === undefined || y === undefined ? null : y - x
    }
    const members = this.target.members.map((m, i): MemberTotals => {
      const first = this.first[i]
      const last = this.last[i]
      const cpu0 = this.cpuOf(first)
      const cpu1 = this.cpuOf(last)
      const a = first?.samples === undefined ? undefined : histogramOf(first.samples, names.persist)
      const b = last?.samples === undefined ? undefined : histogramOf(last.samples, names.persist)
      const d = a && b ? histogramDelta(a, b) : undefined
      const rssEnd = this.rssOf(last)
      return {
        node: m.node,
        pid: m.pid ?? null,
        metricsAvailable: first?.samples !== undefined && last?.samples !== undefined,
        cpuSeconds: cpu0 !== undefined && cpu1 !== undefined ? Math.round((cpu1 - cpu0) * 1000) / 1000 : null,
        runQueueSeconds: threadSumDelta(first?.process?.runQueueSeconds, last?.process?.runQueueSeconds),
        v8WorkerCpuSeconds: threadSumDelta(
          first?.process?.v8WorkerCpuSeconds,
          last?.process?.v8WorkerCpuSeconds
        ),
        rssBytesMax: rssEnd === undefined ? null : (this.rssMax[i] ?? rssEnd),
        rssBytesEnd: rssEnd ?? null,
        leaderChanges: counterDelta(i, names.leaderChanges),
        snapshots: counterDelta(i, names.snapshots),
        persistCount: d?.count ?? null,
        persistMeanMs: d === undefined || d.count === 0 ? null : ms(d.sum / d.count)
      }
    })
    const changes = members.map((m) => m.leaderChanges)
    let leaderChanges: SamplerReport["leaderChanges"]
    if (changes.length > 0 && changes.every((c) => c !== null)) {
      // Every member counts a change it learns of: the most any member saw is the cluster's count.
      leaderChanges = { count: Math.max(...(changes as number[])), source: "metrics" }
    } else {
      const observed = [this.leaderStart, ...this.seconds.map((s) => s.leader)].filter((l) => l !== null)
      let count = 0
      for (let i = 1; i < observed.length; i++) if (observed[i] !== observed[i - 1]) count++
      leaderChanges = observed.length === 0 ? { count: null, source: "none" } : { count, source: "observed" }
    }
    const snaps = members.map((m) => m.snapshots)
    const snapshots: SamplerReport["snapshots"] =
      snaps.length > 0 && snaps.every((s) => s !== null)
        ? { count: (snaps as number[]).reduce((a, b) => a + b, 0), source: "metrics" }
        : { count: null, source: "none" }
    const cpu = this.benchCpuLast
    const machineEnd = this.machineLast
    return {
      perSecond: this.seconds,
      members,
      leaderChanges,
      snapshots,
      bench: {
        cpuSeconds: (cpu.user + cpu.system - this.benchCpuStart.user - this.benchCpuStart.system) / 1e6,
        runQueueSeconds: threadSumDelta(this.benchWaitStart, this.benchWaitLast),
        v8WorkerCpuSeconds: threadSumDelta(this.benchV8Start, this.benchV8Last),
        rssBytesMax: this.benchRssMax
      },
      machine: {
        busyPercent:
          this.machineStart !== undefined && machineEnd !== undefined
            ? Math.round(busyPercent(this.machineStart, machineEnd) * 10) / 10
            : null,
        load1Start: this.machineStart?.load1 ?? null,
        load1End: machineEnd?.load1 ?? null
      }
    }
  }
}
