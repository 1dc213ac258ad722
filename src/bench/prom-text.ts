/**
 * Just enough of the Prometheus text exposition format to read the samples the bench needs:
 * counters, gauges and the cumulative buckets of histograms, summed over label sets.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Every sample line of an exposition (comments and malformed lines are skipped). */
export const parseExposition = (text: string): ReadonlyArray<Sample> => {
  const out: Sample[] = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const m = LINE.exec(line)
    if (m === null) continue
    const value = m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3])
    if (Number.isNaN(value)) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value })
  }
  return out
}

/** The sum of every sample named `name` whose labels include `where` (undefined: none). */
export const sumOf = (
  samples: ReadonlyArray<Sample>,
  name: string,
  where: Readonly<Record<string, string>> = {}
): number | undefined => {
  let total: number | undefined
  for (const s of samples) {
    if (s.name !== name) continue
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue
    total = (total ?? 0) + s.value
  }
  return total
}

/** A histogram's cumulative state: bucket upper bounds (ascending, last +Inf), counts, sum. */
export interface HistogramState {
  readonly bounds: ReadonlyArray<number>
  /** Cumulative counts, one per bound. */
  readonly cumulative: ReadonlyArray<number>
  readonly count: number
  readonly sum: number
}

/** The histogram `name` (buckets summed over other labels), or undefined when absent. */
export const histogramOf = (samples: ReadonlyArray<Sample>, name: string): HistogramState | undefined => {
  const byBound = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue
    const le = s.labels.le
    if (le === undefined) continue
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le)
    byBound.set(bound, (byBound.get(bound) ?? 0) + s.value)
  }
  const count = sumOf(samples, `${name}_count`)
  const sum = sumOf(samples, `${name}_sum`)
  if (byBound.size === 0 || count === undefined || sum === undefined) return undefined
  const bounds = [...byBound.keys()].sort((a, b) => a - b)
  return { bounds, cumulative: bounds.map((b) => byBound.get(b)!), count, sum }
}

/** What happened between two readings of one histogram (undefined if it was reset or reshaped). */
export const histogramDelta = (before: HistogramState, after: HistogramState): HistogramState | undefined => {
  if (before.bounds.length !== after.bounds.length || after.count < before.count) return undefined
  if (before.bounds.some((b, i) => b !== after.bounds[i])) return undefined
  return {
    bounds: after.bounds,
    cumulative: after.cumulative.map((c, i) => c - before.cumulative[i]!),
    count: after.count - before.count,
    sum: after.sum - before.sum
  }
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly inside the bucket it falls in (as
 * PromQL's histogram_quantile does); the last finite bound when it falls in +Inf; undefined when empty.
 */
export const quantileOf = (h: HistogramState, q: number): number | undefined => {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  for (let i = 0; i < h.bounds.length; i++) {
    const upto = h.cumulative[i]!
    if (upto < rank) continue
    const upper = h.bounds[i]!
    const lower = i === 0 ? 0 : h.bounds[i - 1]!
    if (!Number.isFinite(upper)) return lower
    const below = i === 0 ? 0 : h.cumulative[i - 1]!
    const inBucket = upto - below
    return inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket)
  }
  return h.bounds[h.bounds.length - 2]
}
