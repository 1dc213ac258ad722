/**
 * The in-memory MetricsSink layer: every series kept in a map that tests read directly
 * (counter and gauge values, every histogram observation).
 */
import { Clock, Effect, Layer } from "effect"
import type { MetricDef, MetricType } from "./catalog.ts"
import { deriveMetrics } from "./derive.ts"
import { HealthTracker, NodeHealth } from "./health.ts"
import { fanOut, MetricsSink } from "./MetricsSink.ts"
import {
  checkSeries,
  type CounterHandle,
  type GaugeHandle,
  type HistogramHandle,
  type Labels,
  seriesKey
} from "./recorder.ts"

export interface MemorySeries {
  readonly name: string
  readonly type: MetricType
  readonly labels: Labels
  /** Counter total or gauge value (histograms: number of observations). For a gauge that
   * follows a reader, the value read at the latest `value()` or `all()`. */
  value: number
  /** A followed gauge's reader (see `GaugeHandle.follow`). */
  read?: (() => number) | undefined
  /** Histogram observations, in order. */
  readonly observations: number[]
}

/** A Recorder keeping everything in memory, plus the node's health tracker. */
export class MemoryMetrics {
  readonly series = new Map<string, MemorySeries>()
  readonly health = new HealthTracker()

  private resolve(def: MetricDef, type: MetricType, labels: Labels | undefined): MemorySeries {
    checkSeries(def, type, labels)
    const key = seriesKey(def.name, labels)
    let s = this.series.get(key)
    if (s === undefined) {
      s = { name: def.name, type, labels: { ...labels }, value: 0, observations: [] }
      this.series.set(key, s)
    }
    return s
  }

  readonly counter = (def: MetricDef, labels?: Labels): CounterHandle => {
    const s = this.resolve(def, "counter", labels)
    return {
      inc: (n) => {
        s.value += n
      }
    }
  }

  readonly gauge = (def: MetricDef, labels?: Labels): GaugeHandle => {
    const s = this.resolve(def, "gauge", labels)
    return {
      set: (v) => {
        s.value = v
        s.read = undefined
      },
      follow: (read) => {
        s.read = read
      }
    }
  }

  readonly histogram = (def: MetricDef, labels?: Labels): HistogramHandle => {
    const s = this.resolve(def, "histogram", labels)
    return {
      observe: (v) => {
        s.value++
        s.observations.push(v)
      },
      observeMany: (v, times) => {
        s.value += times
        for (let k = 0; k < times; k++) s.observations.push(v)
      }
    }
  }

  readonly remove = (def: MetricDef, labels?: Labels): void => {
    this.series.delete(seriesKey(def.name, labels))
  }

  /** The value of a counter or gauge series (undefined if it does not exist). */
  value(def: MetricDef, labels?: Labels): number | undefined {
    const s = this.series.get(seriesKey(def.name, labels))
    return s === undefined ? undefined : collect(s).value
  }

  /** Every observation of a histogram series (empty if none). */
  observations(def: MetricDef, labels?: Labels): ReadonlyArray<number> {
    return this.series.get(seriesKey(def.name, labels))?.observations ?? []
  }

  /** Every series of a metric, whatever its labels. */
  all(def: MetricDef): ReadonlyArray<MemorySeries> {
    return [...this.series.values()].filter((s) => s.name === def.name).map(collect)
  }
}

/** Read a followed gauge now, as a scrape would. */
const collect = (s: MemorySeries): MemorySeries => {
  if (s.read !== undefined) s.value = s.read()
  return s
}

/** Monotonic seconds from the Clock in context (virtual under TestClock). */
export const clockSeconds = (clock: Clock.Clock) => (): number =>
  Number(clock.monotonicTimeNanosUnsafe()) / 1e9

/** A MetricsSink recording into `metrics`, and the node's health from `metrics.health`. */
export const layerMemory = (metrics: MemoryMetrics): Layer.Layer<MetricsSink | NodeHealth> =>
  Layer.mergeAll(
    Layer.effect(
      MetricsSink,
      Effect.gen(function* () {
        const clock = yield* Clock.Clock
        return fanOut(deriveMetrics(metrics, clockSeconds(clock)), metrics.health.sink)
      })
    ),
    Layer.succeed(NodeHealth, metrics.health)
  )
