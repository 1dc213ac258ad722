/**
 * The bench's pure pieces: Prometheus text parsing and histogram arithmetic, the latency
 * recorder, the workload generator, the closed loop with a fake client, the comparison's ratios
 * and medians, configuration checks.
 */
import { describe, expect, it } from "vitest"
import { compareRuns, comparisonTable, median } from "../../src/bench/compare.ts"
import { defaultConfig, validateConfig } from "../../src/bench/config.ts"
import { makeProgress } from "../../src/bench/progress.ts"
import { runClient } from "../../src/bench/loop.ts"
import { histogramDelta, histogramOf, parseExposition, quantileOf, sumOf } from "../../src/bench/prom-text.ts"
import { percentiles, Recorder, spectrum } from "../../src/bench/recorder.ts"
import type { Summary } from "../../src/bench/results.ts"
import { errorKind } from "../../src/bench/target.ts"
import { keyName, keyWidth, makeWorkload, prng } from "../../src/bench/workload.ts"
import { Timeout } from "../../src/client/index.ts"

const exposition = (counts: ReadonlyArray<number>, sum: number) =>
  [
    "# HELP d A duration.",
    "# TYPE d histogram",
    `d_bucket{le="0.001"} ${counts[0]}`,
    `d_bucket{le="0.01"} ${counts[1]}`,
    `d_bucket{le="0.1"} ${counts[2]}`,
    `d_bucket{le="+Inf"} ${counts[3]}`,
    `d_sum ${sum}`,
    `d_count ${counts[3]}`,
    'c_total{kind="a",peer="2"} 3',
    'c_total{kind="b"} 4',
    "garbage line without a value",
    "g 1.5e+3"
  ].join("\n")

describe("Prometheus text", () => {
  it("parses samples with labels and sums them by name and label filter", () => {
    const s = parseExposition(exposition([1, 2, 3, 4], 0.5))
    expect(sumOf(s, "c_total")).toBe(7)
    expect(sumOf(s, "c_total", { kind: "a" })).toBe(3)
    expect(sumOf(s, "c_total", { kind: "z" })).toBeUndefined()
    expect(sumOf(s, "g")).toBe(1500)
    expect(sumOf(s, "missing")).toBeUndefined()
  })

  it("reads a histogram, takes the difference of two readings, and interpolates quantiles", () => {
    const before = histogramOf(parseExposition(exposition([1, 1, 1, 1], 0.001)), "d")!
    const after = histogramOf(parseExposition(exposition([1, 51, 101, 101], 3.5)), "d")!
    expect(after.bounds).toEqual([0.001, 0.01, 0.1, Number.POSITIVE_INFINITY])
    const d = histogramDelta(before, after)!
    expect(d.count).toBe(100)
    expect(d.sum).toBeCloseTo(3.499)
    expect(d.cumulative).toEqual([0, 50, 100, 100])
    // Half the values in (0.001, 0.01], half in (0.01, 0.1]: the median is the shared bound.
    expect(quantileOf(d, 0.5)).toBeCloseTo(0.01)
    expect(quantileOf(d, 0.75)).toBeCloseTo(0.055)
    expect(quantileOf(d, 0.25)).toBeCloseTo(0.0055)
  })

  it("answers no difference for a reset counter and no quantile for an empty histogram", () => {
    const a = histogramOf(parseExposition(exposition([5, 5, 5, 5], 1)), "d")!
    const b = histogramOf(parseExposition(exposition([1, 1, 1, 1], 0.1)), "d")!
    expect(histogramDelta(a, b)).toBeUndefined()
    expect(quantileOf(histogramDelta(a, a)!, 0.5)).toBeUndefined()
  })

  it("answers the last finite bound for a quantile in the +Inf bucket", () => {
    const h = histogramOf(parseExposition(exposition([0, 0, 0, 10], 9)), "d")!
    expect(quantileOf(h, 0.99)).toBe(0.1)
  })
})

describe("Recorder", () => {
  it("keeps each second's operations and errors, and merges them into consistent totals", () => {
    const r = new Recorder(3)
    for (let i = 1; i <= 100; i++) r.record(0, "write", i * 1000)
    for (let i = 1; i <= 50; i++) r.record(1, "read", 5000)
    r.record(2, "write", 250)
    r.recordError(1, "Timeout")
    r.recordError(1, "Timeout")
    r.recordError(2, "Busy")
    r.record(3, "write", 1) // outside the window: dropped
    r.recordError(-1, "X")
    expect([r.opsIn(0), r.opsIn(1), r.opsIn(2)]).toEqual([100, 50, 1])
    expect([r.errorsIn(0), r.errorsIn(1), r.errorsIn(2)]).toEqual([0, 2, 1])
    expect(r.merged("all").totalCount).toBe(151)
    expect(r.merged("read").totalCount).toBe(50)
    expect(r.merged("write").totalCount).toBe(101)
    const p = percentiles(r.second(0))
    expect(p.p50Ms).toBeCloseTo(50, 0)
    expect(p.maxMs).toBeCloseTo(100, 0)
    expect(p.p99Ms).toBeLessThanOrEqual(p.maxMs)
    expect(percentiles(r.second(1)).p50Ms).toBeCloseTo(5, 1)
  })

  it("reports zeros for an empty histogram and an increasing spectrum otherwise", () => {
    const r = new Recorder(1)
    expect(percentiles(r.merged("all")).count).toBe(0)
    expect(spectrum(r.merged("all"))).toEqual([])
    for (let i = 1; i <= 10_000; i++) r.record(0, "write", i)
    const s = spectrum(r.merged("all"))
    for (let i = 1; i < s.length; i++) {
      expect(s[i]!.percentile).toBeGreaterThanOrEqual(s[i - 1]!.percentile)
      expect(s[i]!.ms).toBeGreaterThanOrEqual(s[i - 1]!.ms)
    }
    expect(s[s.length - 1]).toEqual({ percentile: 100, ms: 10 })
  })
})

describe("workload", () => {
  it("is the same sequence for the same seed and client, and differs across clients", () => {
    const o = { keySpace: 10_000, valueSize: 16, readRatio: 0.5, seed: 7 }
    const take = (w: () => { kind: string; key: string }) => Array.from({ length: 50 }, () => ({ ...w() }))
    const a = take(makeWorkload(o, 0))
    expect(take(makeWorkload(o, 0)).map((x) => [x.kind, x.key])).toEqual(a.map((x) => [x.kind, x.key]))
    expect(take(makeWorkload(o, 1)).map((x) => x.key)).not.toEqual(a.map((x) => x.key))
  })

  it("reads with the configured probability, over keys of the key space, with values of the given size", () => {
    const next = makeWorkload({ keySpace: 100, valueSize: 128, readRatio: 0.3, seed: 1 }, 3)
    let reads = 0
    const keys = new Set<string>()
    for (let i = 0; i < 20_000; i++) {
      const op = next()
      if (op.kind === "read") reads++
      keys.add(op.key)
      expect(op.value.length).toBe(128)
    }
    expect(reads / 20_000).toBeGreaterThan(0.28)
    expect(reads / 20_000).toBeLessThan(0.32)
    expect(keys.size).toBe(100)
    expect([...keys].every((k) => /^key-0000\d\d$/.test(k))).toBe(true)
    const writeOnly = makeWorkload({ keySpace: 10, valueSize: 8, readRatio: 0, seed: 1 }, 0)
    expect(Array.from({ length: 1000 }, writeOnly).every((op) => op.kind === "write")).toBe(true)
  })

  it("names keys like key-000123, wider for larger key spaces", () => {
    expect(keyName(123, keyWidth(10_000))).toBe("key-000123")
    expect(keyName(5, keyWidth(10_000_000))).toBe("key-0000005")
    const r = prng(42)
    const xs = Array.from({ length: 1000 }, r)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
  })
})

describe("closed loop", () => {
  it("records completions of the window by second, counts the warm-up apart, and stops at the end", async () => {
    const recorder = new Recorder(1)
    let inFlight = 0
    let maxInFlight = 0
    let calls = 0
    const call = async () => {
      calls++
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((r) => setTimeout(r, 2))
      inFlight--
      if (calls % 10 === 0) throw new Timeout({ afterMs: 1 })
    }
    const client = { put: call, get: call, close: async () => {} }
    const now = performance.now()
    const timeline = { measureStart: now + 200, measureEnd: now + 700 }
    const next = makeWorkload({ keySpace: 10, valueSize: 8, readRatio: 0.5, seed: 1 }, 0)
    await runClient(client, next, recorder, timeline, new AbortController().signal)
    expect(performance.now()).toBeGreaterThanOrEqual(timeline.measureEnd)
    expect(maxInFlight).toBe(1) // closed loop: one operation at a time
    expect(recorder.warmupOps + recorder.warmupErrors).toBeGreaterThan(0)
    const measured = recorder.opsIn(0) + recorder.errorsIn(0)
    expect(measured).toBeGreaterThan(0)
    expect(recorder.warmupOps + recorder.warmupErrors + measured).toBeLessThanOrEqual(calls)
    expect(recorder.seconds[0]!.errors.get("Timeout")).toBe(recorder.errorsIn(0))
  })

  it("stops when aborted", async () => {
    const recorder = new Recorder(60)
    const abort = new AbortController()
    const client = { put: async () => {}, get: async () => {}, close: async () => {} }
    const now = performance.now()
    setTimeout(() => abort.abort(), 50)
    const next = makeWorkload({ keySpace: 10, valueSize: 8, readRatio: 0, seed: 1 }, 0)
    await runClient(client, next, recorder, { measureStart: now, measureEnd: now + 60_000 }, abort.signal)
    expect(performance.now() - now).toBeLessThan(10_000)
  })
})

describe("errorKind", () => {
  it("names tagged errors by tag and others by class name or code", () => {
    expect(errorKind(new Timeout({ afterMs: 1 }))).toBe("Timeout")
    class GRPCUnavailableError extends Error {
      override name = "GRPCUnavailableError"
    }
    expect(errorKind(new GRPCUnavailableError("x"))).toBe("GRPCUnavailableError")
    expect(errorKind(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe("ECONNRESET")
    expect(errorKind("a string")).toBe("Error")
  })
})

describe("comparison", () => {
  const summary = (target: string, opsPerSec: number, p50Ms: number, p99Ms: number, errors = 0): Summary => ({
    target,
    clients: 20,
    readRatio: 0,
    opsPerSec,
    p50Ms,
    p99Ms,
    errors
  })

  it("computes per-run ratios and medians", () => {
    const c = compareRuns([
      { raftkv: summary("raftkv", 3000, 5, 20), etcd: summary("etcd", 1000, 20, 50) },
      { raftkv: summary("raftkv", 4000, 4, 10, 2), etcd: summary("etcd", 800, 25, 60) },
      { raftkv: summary("raftkv", 2000, 6, 30), etcd: summary("etcd", 1000, 18, 40, 1) }
    ])
    expect(c.runs.map((r) => r.throughputRatio)).toEqual([3, 5, 2])
    expect(c.runs.map((r) => r.p99Ratio)).toEqual([0.4, 0.167, 0.75])
    expect(c.median.throughputRatio).toBe(3)
    expect(c.median.p99Ratio).toBe(0.4)
    expect(c.median.raftkv.opsPerSec).toBe(3000)
    expect(c.median.etcd.p99Ms).toBe(50)
    expect(c.median.raftkv.errors).toBe(2)
    expect(c.median.etcd.errors).toBe(1)
    const table = comparisonTable(c)
    expect(table.split("\n")).toHaveLength(2 + 3 + 1)
    expect(table).toContain("| median | 3000 | 1000 | **3x** |")
  })

  it("takes the mean of the middle two for an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBe(0)
  })
})

describe("configuration", () => {
  it("accepts the defaults and names the first bad value", () => {
    expect(validateConfig(defaultConfig)).toBeUndefined()
    expect(validateConfig({ ...defaultConfig, clients: 0 })?.message).toMatch(/--clients/)
    expect(validateConfig({ ...defaultConfig, readRatio: 1.5 })?.message).toMatch(/--read-ratio/)
    expect(validateConfig({ ...defaultConfig, durationMs: 10 })?.message).toMatch(/--duration/)
    expect(validateConfig({ ...defaultConfig, endpoints: [] })?.message).toMatch(/--endpoints/)
  })
})

describe("progress", () => {
  it("writes plain lines when not on a terminal: the warm-up's end, every 5 s and the last second", () => {
    const lines: string[] = []
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream
    const p = makeProgress("[t]", stream)
    for (let k = 1; k <= 3; k++)
      p.update({ phase: "warmup", done: k, total: 3, opsPerSec: 10, p99Ms: 0, errors: 0 })
    for (let k = 1; k <= 12; k++)
      p.update({ phase: "measure", done: k, total: 12, opsPerSec: 100 + k, p99Ms: 2.5, errors: k })
    p.stop()
    expect(lines).toEqual([
      "[t] warmup 3/3s 10 ops/s p99 - ms errors 0\n",
      "[t] measure 5/12s 105 ops/s p99 2.50 ms errors 5\n",
      "[t] measure 10/12s 110 ops/s p99 2.50 ms errors 10\n",
      "[t] measure 12/12s 112 ops/s p99 2.50 ms errors 12\n"
    ])
  })
})
