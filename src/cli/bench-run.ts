/**
 * What `raftkv bench` runs once its flags are valid. Loaded only by that command: the load tool,
 * etcd client and chart rendering stay out of every other command's start-up.
 */
import { Effect } from "effect"
import { comparisonTable, runComparison } from "../bench/compare.ts"
import { type BenchConfig, InvalidBenchConfig } from "../bench/config.ts"
import type { Results } from "../bench/results.ts"
import { runBench } from "../bench/run.ts"

const say = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

const reportRun = (r: Results) =>
  say(
    `${r.config.target}: ${r.totals.opsPerSec} ops/s, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, ` +
      `p99.9 ${r.latency.p999Ms} ms, max ${r.latency.maxMs} ms, ${r.totals.errors} errors, ` +
      `${r.leaderChanges.count ?? "?"} leader changes, ${r.snapshots.count ?? "?"} snapshots, ` +
      `machine ${r.environment.machineBusyPercent ?? "?"}% busy -> ${r.config.outDir}`
  )

/** Run one bench (or `--compare` pairs), report, and print the JSON summary line. */
export const runBenchCommand = (config: BenchConfig, compare: boolean, repeat: number) =>
  Effect.gen(function* () {
    if (compare) {
      if (config.endpoints !== undefined) {
        return yield* new InvalidBenchConfig({
          message: "--compare starts both clusters itself: drop --endpoints"
        })
      }
      if (repeat < 1) return yield* new InvalidBenchConfig({ message: "--repeat must be >= 1" })
      const comparison = yield* runComparison(config, repeat, (r) => Effect.runSync(reportRun(r)))
      yield* say(`\n${comparisonTable(comparison)}\n`)
      const m = comparison.median
      yield* Effect.sync(() =>
        process.stdout.write(
          `${JSON.stringify({
            target: "raftkv-vs-etcd",
            clients: config.clients,
            readRatio: config.readRatio,
            runs: comparison.runs.length,
            raftkv: m.raftkv,
            etcd: m.etcd,
            throughputRatio: m.throughputRatio,
            p99Ratio: m.p99Ratio,
            perRun: comparison.runs.map((r) => ({ throughputRatio: r.throughputRatio, p99Ratio: r.p99Ratio }))
          })}\n`
        )
      )
      return
    }
    const results = yield* runBench(config)
    yield* reportRun(results)
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(results.summary)}\n`))
  })
