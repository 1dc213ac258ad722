/**
 * `--compare`: raftkv and etcd under the same workload, back to back, interleaved (run k starts
 * with raftkv when k is odd and with etcd when k is even, so drift in the machine's load hits
 * both), with the ratio of each pair and the medians.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { barsChart, renderSvg, svgToPng } from "./charts.ts"
import type { BenchConfig, TargetName } from "./config.ts"
import type { Results, Summary } from "./results.ts"
import { type BenchError, BenchRunFailed, runBench } from "./run.ts"

export interface ComparedRun {
  readonly run: number
  readonly raftkv: Summary
  readonly etcd: Summary
  /** raftkv ops/s over etcd ops/s (> 1: raftkv did more). */
  readonly throughputRatio: number
  /** raftkv p50 / etcd p50 (< 1: raftkv was faster). */
  readonly p50Ratio: number
  /** raftkv p99 / etcd p99 (< 1: raftkv was faster). */
  readonly p99Ratio: number
}

export interface Comparison {
  readonly runs: ReadonlyArray<ComparedRun>
  readonly median: {
    readonly raftkv: Summary
    readonly etcd: Summary
    readonly throughputRatio: number
    readonly p50Ratio: number
    readonly p99Ratio: number
  }
}

/** The median (mean of the middle two for an even count); 0 for none. */
export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return 0
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits
const ratio = (a: number, b: number) => (b === 0 ? 0 : round(a / b))

const medianSummary = (xs: ReadonlyArray<Summary>, target: TargetName): Summary => ({
  target,
  clients: xs[0]?.clients ?? 0,
  readRatio: xs[0]?.readRatio ?? 0,
  opsPerSec: round(median(xs.map((x) => x.opsPerSec)), 1),
  p50Ms: round(median(xs.map((x) => x.p50Ms))),
  p99Ms: round(median(xs.map((x) => x.p99Ms))),
  errors: xs.reduce((a, x) => a + x.errors, 0)
})

export const compareRuns = (pairs: ReadonlyArray<{ raftkv: Summary; etcd: Summary }>): Comparison => {
  const runs = pairs.map((p, k) => ({
    run: k + 1,
    raftkv: p.raftkv,
    etcd: p.etcd,
    throughputRatio: ratio(p.raftkv.opsPerSec, p.etcd.opsPerSec),
    p50Ratio: ratio(p.raftkv.p50Ms, p.etcd.p50Ms),
    p99Ratio: ratio(p.raftkv.p99Ms, p.etcd.p99Ms)
  }))
  return {
    runs,
    median: {
      raftkv: medianSummary(
        runs.map((r) => r.raftkv),
        "raftkv"
      ),
      etcd: medianSummary(
        runs.map((r) => r.etcd),
        "etcd"
      ),
      throughputRatio: round(median(runs.map((r) => r.throughputRatio))),
      p50Ratio: round(median(runs.map((r) => r.p50Ratio))),
      p99Ratio: round(median(runs.map((r) => r.p99Ratio)))
    }
  }
}

/** The ratio table as Markdown. */
export const comparisonTable = (c: Comparison): string => {
  const row = (name: string, r: Summary, e: Summary, t: number, p50: number, p99: number) =>
    `| ${name} | ${r.opsPerSec} | ${e.opsPerSec} | **${t}x** | ${r.p50Ms} | ${e.p50Ms} | ${p50} | ${r.p99Ms} | ${e.p99Ms} | ${p99} | ${r.errors} / ${e.errors} |`
  return [
    "| run | raftkv ops/s | etcd ops/s | throughput ratio | raftkv p50 ms | etcd p50 ms | p50 ratio | raftkv p99 ms | etcd p99 ms | p99 ratio | errors (raftkv / etcd) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...c.runs.map((r) => row(String(r.run), r.raftkv, r.etcd, r.throughputRatio, r.p50Ratio, r.p99Ratio)),
    row(
      "median",
      c.median.raftkv,
      c.median.etcd,
      c.median.throughputRatio,
      c.median.p50Ratio,
      c.median.p99Ratio
    )
  ].join("\n")
}

/** Run both targets `repeat` times, interleaved, each into `<out>/<target>-<run>`. */
export const runComparison = (
  config: BenchConfig,
  repeat: number,
  onResults: (r: Results) => void = () => {}
): Effect.Effect<Comparison, BenchError> =>
  Effect.gen(function* () {
    const pairs: Array<{ raftkv: Summary; etcd: Summary }> = []
    for (let run = 1; run <= repeat; run++) {
      const order: ReadonlyArray<TargetName> = run % 2 === 1 ? ["raftkv", "etcd"] : ["etcd", "raftkv"]
      const got: Partial<Record<TargetName, Summary>> = {}
      for (const target of order) {
        const results = yield* runBench({
          ...config,
          target,
          outDir: join(config.outDir, `${target}-${run}`)
        })
        onResults(results)
        got[target] = results.summary
      }
      pairs.push({ raftkv: got.raftkv!, etcd: got.etcd! })
    }
    const comparison = compareRuns(pairs)
    yield* Effect.try({
      try: () => writeComparison(config, comparison),
      catch: (e) => new BenchRunFailed({ message: `cannot write the comparison: ${String(e)}` })
    })
    return comparison
  })

const writeComparison = (config: BenchConfig, comparison: Comparison): void => {
  const table = comparisonTable(comparison)
  writeFileSync(
    join(config.outDir, "compare.json"),
    `${JSON.stringify({ config, ...comparison }, null, 2)}\n`
  )
  writeFileSync(join(config.outDir, "compare.md"), `${table}\n`)
  const mix = config.readRatio === 0 ? "write-only" : `${Math.round(config.readRatio * 100)}% reads`
  const svg = renderSvg(
    barsChart({
      title: `raftkv vs etcd: ${config.clients} clients, ${mix}`,
      subtitle: `median throughput ratio ${comparison.median.throughputRatio}x, median p99 ratio ${comparison.median.p99Ratio}`,
      categories: [...comparison.runs.map((r) => `run ${r.run}`), "median"],
      yName: "operations / s",
      groups: [
        {
          name: "raftkv",
          values: [...comparison.runs.map((r) => r.raftkv.opsPerSec), comparison.median.raftkv.opsPerSec]
        },
        {
          name: "etcd",
          values: [...comparison.runs.map((r) => r.etcd.opsPerSec), comparison.median.etcd.opsPerSec]
        }
      ]
    })
  )
  writeFileSync(join(config.outDir, "compare.svg"), svg)
  writeFileSync(join(config.outDir, "compare.png"), svgToPng(svg))
}
