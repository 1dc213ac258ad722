/**
 * The effect-registry Recorder behind the Prometheus layer (rendered with effect's formatter), and
 * the bounded FIFO used for in-flight bookkeeping.
 */
import { describe, expect, it } from "vitest"
import { Context, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import type { MetricDef } from "../../src/metrics/catalog.ts"
import { MemoryMetrics } from "../../src/metrics/memory.ts"
import { makeEffectRecorder } from "../../src/metrics/prometheus.ts"
import { totalTracker } from "../../src/metrics/recorder.ts"
import { Ring } from "../../src/metrics/ring.ts"

const hist: MetricDef = {
  name: "t_seconds",
  type: "histogram",
  help: "h",
  labels: ["k"],
  buckets: [0.001, 0.01, 1]
}
const counter: MetricDef = { name: "t_total", type: "counter", help: "c", labels: [] }
const gauge: MetricDef = { name: "t_bytes", type: "gauge", help: "g", labels: ["peer"] }

const fresh = () => {
  const context = Context.make(Metric.MetricRegistry, new Map())
  return { rec: makeEffectRecorder(context), render: () => PrometheusMetrics.formatUnsafe(context) }
}

describe("effect-registry recorder", () => {
  it("histogram buckets are upper-inclusive and cumulative; observeMany weighs one value", () => {
    const { rec, render } = fresh()
    const h = rec.histogram(hist, { k: "a" })
    h.observe(0.001) // on a bound: in that bucket
    h.observe(0.005)
    h.observeMany(2, 3) // beyond the last bound: +Inf only
    const text = render()
    expect(text).toContain('t_seconds_bucket{k="a",le="0.001"} 1\n')
    expect(text).toContain('t_seconds_bucket{k="a",le="0.01"} 2\n')
    expect(text).toContain('t_seconds_bucket{k="a",le="1"} 2\n')
    expect(text).toContain('t_seconds_bucket{k="a",le="+Inf"} 5\n')
    expect(text).toContain('t_seconds_count{k="a"} 5\n')
    expect(text).toContain('t_seconds_sum{k="a"} 6.006\n')
  })

  it("a series resolved twice is one series; removal drops it from the exposition", () => {
    const { rec, render } = fresh()
    rec.counter(counter).inc(2)
    rec.counter(counter).inc(3)
    rec.counter(counter).inc(-1) // counters never go down
    rec.gauge(gauge, { peer: "2" }).set(7)
    rec.gauge(gauge, { peer: "3" }).set(9)
    expect(render()).toContain("t_total 5\n")
    rec.remove(gauge, { peer: "2" })
    const text = render()
    expect(text).not.toContain('t_bytes{peer="2"}')
    expect(text).toContain('t_bytes{peer="3"} 9\n')
  })

  it("rejects a series with the wrong type or labels", () => {
    const { rec } = fresh()
    expect(() => rec.counter(hist, { k: "a" })).toThrow(/is a histogram/)
    expect(() => rec.histogram(hist)).toThrow(/takes labels \[k\]/)
  })

  it("a followed gauge is read at every render, until a set replaces the reader", () => {
    const { rec, render } = fresh()
    let current = 3
    let reads = 0
    const g = rec.gauge(gauge, { peer: "2" })
    g.follow(() => {
      reads++
      return current
    })
    expect(reads).toBe(0) // nothing is read until a scrape
    expect(render()).toContain('t_bytes{peer="2"} 3\n')
    current = 8
    expect(render()).toContain('t_bytes{peer="2"} 8\n')
    expect(reads).toBe(2)
    g.set(5)
    current = 9
    expect(render()).toContain('t_bytes{peer="2"} 5\n')
    expect(reads).toBe(2)
  })

  it("totalTracker turns running totals into counter increments", () => {
    const { rec, render } = fresh()
    const track = totalTracker(rec.counter(counter))
    track(10)
    track(15)
    track(4) // the source restarted: count from its new total
    expect(render()).toContain("t_total 19\n")
  })
})

describe("memory recorder", () => {
  it("a followed gauge is read by value() and all(), until a set replaces the reader", () => {
    const m = new MemoryMetrics()
    let current = 4
    const g = m.gauge(gauge, { peer: "2" })
    g.follow(() => current)
    expect(m.value(gauge, { peer: "2" })).toBe(4)
    current = 6
    expect(m.all(gauge).map((s) => s.value)).toEqual([6])
    g.set(1)
    current = 7
    expect(m.value(gauge, { peer: "2" })).toBe(1)
  })
})

describe("Ring", () => {
  it("is FIFO across wrap-around and drops the oldest when full", () => {
    const r = new Ring(3, 2)
    expect(r.push(1, 10)).toBe(true)
    expect(r.push(2, 20)).toBe(true)
    r.shift()
    expect(r.push(3, 30)).toBe(true)
    expect(r.push(4, 40)).toBe(true)
    expect(r.push(5, 50)).toBe(false) // full: 2 was dropped
    const seen: number[] = []
    while (r.size > 0) {
      seen.push(r.first(0) + r.first(1))
      r.shift()
    }
    expect(seen).toEqual([33, 44, 55])
  })
})
