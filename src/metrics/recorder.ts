/**
 * `Recorder`: where metric updates land (Prometheus registry, or memory for tests).
 *
 * A series (a metric plus its label values) is resolved once into a handle; updating a handle is
 * a plain synchronous call, so the event loop can report without allocating or running an Effect.
 */
import type { MetricDef } from "./catalog.ts"

export type Labels = Readonly<Record<string, string>>

export interface CounterHandle {
  /** Add `n` (>= 0). */
  readonly inc: (n: number) => void
}

export interface GaugeHandle {
  readonly set: (value: number) => void
  /**
   * From now on the gauge's value is `read()`, called whenever the series is collected (a scrape),
   * so a figure that lives elsewhere costs nothing until someone looks. A later `set` replaces it.
   */
  readonly follow: (read: () => number) => void
}

export interface HistogramHandle {
  readonly observe: (value: number) => void
  /** Observe `value` `times` times at once (e.g. one latency shared by a batch of entries). */
  readonly observeMany: (value: number, times: number) => void
}

export interface Recorder {
  readonly counter: (def: MetricDef, labels?: Labels) => CounterHandle
  readonly gauge: (def: MetricDef, labels?: Labels) => GaugeHandle
  readonly histogram: (def: MetricDef, labels?: Labels) => HistogramHandle
  /** Forget a series (e.g. a peer's replication lag once this node is no longer leader). */
  readonly remove: (def: MetricDef, labels?: Labels) => void
}

/** A stable key of a series: the metric name and its labels in a fixed order. */
export const seriesKey = (name: string, labels: Labels | undefined): string => {
  if (labels === undefined) return name
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
  return `${name}{${parts.join(",")}}`
}

/** A metric definition used with the wrong type or labels is a programming error: die loudly. */
export const checkSeries = (def: MetricDef, type: MetricDef["type"], labels: Labels | undefined): void => {
  const given = labels === undefined ? [] : Object.keys(labels)
  if (def.type !== type) throw new Error(`metric ${def.name} is a ${def.type}, used as a ${type}`)
  if (given.length !== def.labels.length || def.labels.some((l) => labels?.[l] === undefined)) {
    throw new Error(`metric ${def.name} takes labels [${def.labels.join(", ")}], got [${given.join(", ")}]`)
  }
}

/**
 * A counter fed with running totals read from elsewhere (process CPU, transport stats): adds the
 * difference since the previous reading. A total that went down (a restarted source) starts over.
 */
export const totalTracker = (handle: CounterHandle) => {
  let last = 0
  return (total: number): void => {
    const delta = total >= last ? total - last : total
    last = total
    if (delta > 0) handle.inc(delta)
  }
}
