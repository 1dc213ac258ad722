/**
 * The Prometheus MetricsSink layer, on effect's `Metric` and the text exposition of
 * `effect/observability` (PrometheusMetrics).
 *
 * Each layer owns a private metric registry, so several nodes in one process (tests) keep their
 * series apart. Updates go straight to the series' hooks (`updateUnsafe` on handles resolved once):
 * no Effect runs and nothing is allocated per update. Figures that live elsewhere (process CPU and
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

// biome-ignore lint/suspicious/noExplicitAny: a registry holds metrics of every input and state type
type AnyMetric = Metric.Metric<any, any>

/** A Recorder on effect metrics kept in the registry of `context`. */
export const makeEffectRecorder = (context: Context.Context<never>): Recorder => {
  const base = new Map<string, AnyMetric>()
  const metricOf = (def: MetricDef): AnyMetric => {
    let m = base.get(def.name)
    if (m === undefined) {
      const description = def.help
      m =
        def.type === "counter"
          ? Metric.counter(def.name, { description, incremental: true })
          : def.type === "gauge"
            ? Metric.gauge(def.name, { description })
            : Metric.histogram(def.name, { description, boundaries: def.buckets ?? [] })
      base.set(def.name, m)
    }
    return m
  }
  /** The series of `def` with `labels`, registered at once so it is exported even before use. */
  const series = (def: MetricDef, type: MetricDef["type"], labels: Labels | undefined): AnyMetric => {
    checkSeries(def, type, labels)
    const m = labels === undefined ? metricOf(def) : Metric.withAttributes(metricOf(def), labels)
    m.valueUnsafe(context)
    return m
  }
  return {
    counter: (def, labels): CounterHandle => {
      const m = series(def, "counter", labels)
      return { inc: (n) => m.updateUnsafe(n, context) }
    },
    gauge: (def, labels): GaugeHandle => {
      const m = series(def, "gauge", labels)
      return { set: (v) => m.updateUnsafe(v, context) }
    },
    histogram: (def, labels): HistogramHandle => {
      const m = series(def, "histogram", labels)
      return { observe: (v) => m.updateUnsafe(v, context) }
    },
    remove: (def, labels) => {
      const m = labels === undefined ? metricOf(def) : Metric.withAttributes(metricOf(def), labels)
      Metric.removeUnsafe(m, context)
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
