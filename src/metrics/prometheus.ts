/**
 * The Prometheus MetricsSink layer, on effect's `Metric` and the text exposition of
 * `effect/observability` (PrometheusMetrics).
 *
 * Each layer owns a private metric registry, so several nodes in one process (tests) keep their
 * series apart. Series state lives in plain fields read by registered hooks: an update runs no
 * Effect, allocates nothing and costs a few nanoseconds. Figures that live elsewhere (process CPU and
 * memory, event-loop delay, transport counters) are read when `/metrics` is rendered.
 */
import { Context, Effect, Layer, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { rejectReasons, Transport } from "../transport/transport.ts"
import { type MetricDef, transportMetrics as T } from "./catalog.ts"
import { deriveMetrics } from "./derive.ts"
import { HealthTracker, NodeHealth } from "./health.ts"
import { clockSeconds } from "./memory.ts"
import { fanOut, MetricsSink } from "./MetricsSink.ts"
import { processCollector } from "./process.ts"
import {
  checkSeries,
  type CounterHandle,
  type GaugeHandle,
  type HistogramHandle,
  type Labels,
  type Recorder,
  seriesKey,
  totalTracker
} from "./recorder.ts"

export interface MetricsExpositionShape {
  /** Every metric of this node in the Prometheus text format (version 0.0.4). */
  readonly render: Effect.Effect<string>
}

/** This node's metrics as Prometheus text. */
export class MetricsExposition extends Context.Service<MetricsExposition, MetricsExpositionShape>()(
  "raftkv/MetricsExposition"
) {}

/** The content type of {@link MetricsExpositionShape.render}'s output. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const noop = (): void => {}

/** A histogram's state, updated in place: per-bucket counts (the last one is +Inf). */
class HistogramCells {
  readonly bounds: Float64Array
  readonly counts: Float64Array
  count = 0
  sum = 0
  min = Number.POSITIVE_INFINITY
  max = Number.NEGATIVE_INFINITY
  constructor(bounds: ReadonlyArray<number>) {
    this.bounds = Float64Array.from(bounds)
    this.counts = new Float64Array(bounds.length + 1)
  }
  observe(value: number, times: number): void {
    const b = this.bounds
    let lo = 0
    let hi = b.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (value <= b[mid]!) hi = mid
      else lo = mid + 1
    }
    this.counts[lo]! += times
    this.count += times
    this.sum += value * times
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }
  /** The state effect's Prometheus formatter reads: cumulative counts per bound. */
  state(): Metric.HistogramState {
    const buckets: Array<[number, number]> = []
    let cumulative = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!
      buckets.push([this.bounds[i]!, cumulative])
    }
    return { buckets, count: this.count, sum: this.sum, min: this.min, max: this.max }
  }
}

/**
 * A Recorder on effect's metric registry of `context`. Each series keeps its state in plain
 * fields and is registered with a read hook (`Metric.registerUnsafe`), so an update is a few
 * arithmetic operations (no registry lookup, no Effect) and `PrometheusMetrics.formatUnsafe`
 * renders the registry as usual.
 */
export const makeEffectRecorder = (context: Context.Context<never>): Recorder => {
  const handles = new Map<string, { readonly handle: unknown; readonly registration: Metric.Registration }>()

  const register = <H>(
    def: MetricDef,
    type: MetricDef["type"],
    labels: Labels | undefined,
    make: () => { readonly handle: H; readonly get: () => unknown }
  ): H => {
    checkSeries(def, type, labels)
    const key = seriesKey(def.name, labels)
    const existing = handles.get(key)
    if (existing !== undefined) return existing.handle as H
    const { handle, get } = make()
    const description = def.help
    const base: Metric.Metric<never, unknown> =
      type === "counter"
        ? Metric.counter(def.name, { description, incremental: true })
        : type === "gauge"
          ? Metric.gauge(def.name, { description })
          : Metric.histogram(def.name, { description, boundaries: def.buckets ?? [] })
    const metric = labels === undefined ? base : Metric.withAttributes(base, labels)
    const registration = Metric.registerUnsafe(metric, context, {
      get,
      update: noop,
      modify: noop
    })
    handles.set(key, { handle, registration })
    return handle
  }

  return {
    counter: (def, labels) =>
      register<CounterHandle>(def, "counter", labels, () => {
        let count = 0
        return {
          handle: {
            inc: (n) => {
              if (n > 0) count += n
            }
          },
          get: () => ({ count, incremental: true })
        }
      }),
    gauge: (def, labels) =>
      register<GaugeHandle>(def, "gauge", labels, () => {
        let value = 0
        let read: (() => number) | undefined
        return {
          handle: {
            set: (v) => {
              value = v
              read = undefined
            },
            follow: (r) => {
              read = r
            }
          },
          get: () => ({ value: read === undefined ? value : read() })
        }
      }),
    histogram: (def, labels) =>
      register<HistogramHandle>(def, "histogram", labels, () => {
        const cells = new HistogramCells(def.buckets ?? [])
        return {
          handle: {
            observe: (v) => cells.observe(v, 1),
            observeMany: (v, times) => {
              if (times > 0) cells.observe(v, times)
            }
          },
          get: () => cells.state()
        }
      }),
    remove: (def, labels) => {
      const key = seriesKey(def.name, labels)
      handles.get(key)?.registration.remove()
      handles.delete(key)
    }
  }
}

/**
 * The node's metrics for Prometheus: provides the `MetricsSink` the runtime and the KV server
 * report to, the `MetricsExposition` that `/metrics` serves, and the `NodeHealth` that `/health`
 * answers. Reads the peer transport's counters at every render.
 */
export const layerPrometheus: Layer.Layer<MetricsSink | MetricsExposition | NodeHealth, never, Transport> =
  Layer.effectContext(
    Effect.gen(function* () {
      const transport = yield* Transport
      const clock = yield* Effect.clockWith(Effect.succeed)
      const context = Context.make(Metric.MetricRegistry, new Map())
      const rec = makeEffectRecorder(context)
      const health = new HealthTracker()
      const sink = fanOut(deriveMetrics(rec, clockSeconds(clock)), health.sink)
      const refreshProcess = yield* processCollector(rec)

      const rejected = rejectReasons.map(
        (reason) => [reason, totalTracker(rec.counter(T.framesRejected, { reason }))] as const
      )
      const sent = totalTracker(rec.counter(T.framesSent))
      const received = totalTracker(rec.counter(T.framesReceived))
      const connects = totalTracker(rec.counter(T.connects))
      const queued = rec.gauge(T.outboundQueued)

      const render = Effect.gen(function* () {
        const stats = yield* transport.stats
        for (const [reason, track] of rejected) track(stats.rejected[reason])
        sent(stats.sent)
        received(stats.received)
        connects(stats.connects)
        queued.set(stats.queued)
        refreshProcess()
        return PrometheusMetrics.formatUnsafe(context)
      })

      return Context.make(MetricsSink, sink)
        .pipe(Context.add(MetricsExposition, { render }))
        .pipe(Context.add(NodeHealth, health))
    })
  )
