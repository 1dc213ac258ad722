/**
 * Latency and throughput of the measured window, second by second.
 *
 * Every completed operation belongs to the second in which it completed; its latency goes into
 * that second's HDR histogram (microseconds, 3 significant digits). Totals are built from the
 * per-second figures, so the two always agree.
 */
import * as hdr from "hdr-histogram-js"
import type { OpKind } from "./workload.ts"

export type Histogram = hdr.Histogram

/** A histogram of latencies in microseconds, 1 us .. 10 min at 3 significant digits. */
export const newHistogram = (): Histogram =>
  hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true
  })

export interface SecondCounts {
  readonly reads: Histogram
  readonly writes: Histogram
  readonly errors: Map<string, number>
}

const newSecond = (): SecondCounts => ({ reads: newHistogram(), writes: newHistogram(), errors: new Map() })

export class Recorder {
  readonly seconds: ReadonlyArray<SecondCounts>
  /** Operations that completed during the warm-up (not measured). */
  warmupOps = 0
  warmupErrors = 0

  constructor(seconds: number) {
    this.seconds = Array.from({ length: seconds }, newSecond)
  }

  /** An operation completed `latencyUs` after it was sent, in measured second `second`. */
  record(second: number, kind: OpKind, latencyUs: number): void {
    const s = this.seconds[second]
    if (s === undefined) return
    ;(kind === "read" ? s.reads : s.writes).recordValue(Math.max(1, Math.round(latencyUs)))
  }

  /** An operation failed with an error of kind `kind` in measured second `second`. */
  recordError(second: number, kind: string): void {
    const s = this.seconds[second]
    if (s === undefined) return
    s.errors.set(kind, (s.errors.get(kind) ?? 0) + 1)
  }

  /** Operations (reads + writes) completed in second `second` so far. */
  opsIn(second: number): number {
    const s = this.seconds[second]
    return s === undefined ? 0 : s.reads.totalCount + s.writes.totalCount
  }

  errorsIn(second: number): number {
    const s = this.seconds[second]
    let n = 0
    if (s !== undefined) for (const v of s.errors.values()) n += v
    return n
  }

  /** Every measured second merged (`kind` selects reads, writes or both). */
  merged(kind: OpKind | "all", upTo = this.seconds.length): Histogram {
    const h = newHistogram()
    for (const s of this.seconds.slice(0, upTo)) {
      if (kind !== "write") h.add(s.reads)
      if (kind !== "read") h.add(s.writes)
    }
    return h
  }

  /** Both kinds of one second. */
  second(second: number): Histogram {
    const h = newHistogram()
    const s = this.seconds[second]
    if (s !== undefined) {
      h.add(s.reads)
      h.add(s.writes)
    }
    return h
  }
}

export interface Percentiles {
  readonly count: number
  readonly meanMs: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

const ms = (us: number): number => Math.round(us) / 1000

/** HDR reports a bucket's highest equivalent value, which can exceed the largest value recorded. */
const at = (h: Histogram, p: number): number => Math.min(h.getValueAtPercentile(p), h.maxValue)

/** The percentiles of a histogram of microseconds, in milliseconds (zeros when empty). */
export const percentiles = (h: Histogram): Percentiles =>
  h.totalCount === 0
    ? { count: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 }
    : {
        count: h.totalCount,
        meanMs: ms(h.mean),
        p50Ms: ms(at(h, 50)),
        p90Ms: ms(at(h, 90)),
        p99Ms: ms(at(h, 99)),
        p999Ms: ms(at(h, 99.9)),
        maxMs: ms(h.maxValue)
      }

/** Points of the percentile spectrum (for the distribution chart): percentile -> latency ms. */
export const spectrum = (
  h: Histogram
): ReadonlyArray<{ readonly percentile: number; readonly ms: number }> => {
  if (h.totalCount === 0) return []
  const points: Array<{ percentile: number; ms: number }> = []
  // 1 - p halves each step from 50% up to 99.999% (and beyond only if there are enough samples).
  for (let tail = 0.5; tail * h.totalCount >= 0.5 && tail >= 1e-5; tail /= 2) {
    for (const f of [1, 0.8, 0.6]) {
      const p = 100 * (1 - tail * f)
      points.push({ percentile: p, ms: ms(at(h, p)) })
    }
  }
  points.unshift({ percentile: 0, ms: ms(h.minNonZeroValue) })
  points.push({ percentile: 100, ms: ms(h.maxValue) })
  return points
}
