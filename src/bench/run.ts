/**
 * One bench run: start (or reach) the system under test, run the closed loop through the
 * warm-up and the measured window while sampling the members every second, then write
 * `results.json` and the charts to the output dir.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import { type BenchConfig, type InvalidBenchConfig, measuredSeconds, validateConfig } from "./config.ts"
import { existingEtcd, localEtcd } from "./etcd-target.ts"
import { runClient } from "./loop.ts"
import type { BenchSetupFailed } from "./processes.ts"
import { makeProgress, noProgress } from "./progress.ts"
import { existingRaftkv, localRaftkv } from "./raftkv-target.ts"
import { percentiles, Recorder } from "./recorder.ts"
import { buildResults, type Results } from "./results.ts"
import { writeRunCharts } from "./run-charts.ts"
import { Sampler } from "./sampler.ts"
import type { BenchClient, Target } from "./target.ts"
import { makeWorkload } from "./workload.ts"

/** The run could not complete (a client could not be made, output could not be written). */
export class BenchRunFailed extends Schema.TaggedError<BenchRunFailed>()("BenchRunFailed", {
  message: Schema.String
}) {}

export type BenchError = InvalidBenchConfig | BenchSetupFailed | BenchRunFailed

const here = dirname(fileURLToPath(import.meta.url))

const gitCommit = (): string | null => {
  try {
    return (
      execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: here, encoding: "utf8" }).trim() || null
    )
  } catch {
    return null
  }
}

const startTarget = (config: BenchConfig) => {
  const endpoints = config.endpoints
  if (config.target === "etcd") return endpoints ? existingEtcd(config, endpoints) : localEtcd(config)
  return endpoints ? existingRaftkv(config, endpoints) : localRaftkv(config)
}

/** The bench clients: one per closed-loop client, or one shared by all; closed with the scope. */
const openClients = (target: Target, config: BenchConfig) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        Promise.all(Array.from({ length: config.sharedClient ? 1 : config.clients }, target.newClient)),
      catch: (e) => new BenchRunFailed({ message: `could not create a ${target.name} client: ${String(e)}` })
    }),
    (clients) => Effect.promise(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))))
  )

/** The closed loop and the sampler, from the start of the warm-up to the end of the window. */
const drive = (
  config: BenchConfig,
  target: Target,
  clients: ReadonlyArray<BenchClient>,
  recorder: Recorder,
  sampler: Sampler,
  signal: AbortSignal
): Promise<void> => {
  const seconds = recorder.seconds.length
  const start = performance.now()
  const timeline = {
    measureStart: start + config.warmupMs,
    measureEnd: start + config.warmupMs + config.durationMs
  }
  const progress = config.progress
    ? makeProgress(`[${target.name} ${config.clients}c r${config.readRatio}]`)
    : noProgress
  const warmupSeconds = Math.ceil(config.warmupMs / 1000)
  let lastWarmupOps = 0
  const ticker = setInterval(() => {
    if (progress === noProgress) return
    const now = performance.now()
    if (now < timeline.measureStart) {
      const done = Math.min(warmupSeconds, Math.round((now - start) / 1000))
      progress.update({
        phase: "warmup",
        done,
        total: warmupSeconds,
        opsPerSec: recorder.warmupOps - lastWarmupOps,
        p99Ms: 0,
        errors: recorder.warmupErrors
      })
      lastWarmupOps = recorder.warmupOps
      return
    }
    const done = Math.min(seconds, Math.floor((now - timeline.measureStart) / 1000))
    if (done < 1) return
    let errors = 0
    for (let k = 0; k < done; k++) errors += recorder.errorsIn(k)
    progress.update({
      phase: "measure",
      done,
      total: seconds,
      opsPerSec: recorder.opsIn(done - 1),
      p99Ms: percentiles(recorder.second(done - 1)).p99Ms,
      errors
    })
  }, 1000)
  const shared = clients.length === 1 && config.clients > 1 ? clients[0]! : undefined
  const runs = Array.from({ length: config.clients }, (_, k) =>
    runClient(shared ?? clients[k]!, makeWorkload(config, k), recorder, timeline, signal)
  )
  const sampling = sampler.run(timeline.measureStart, seconds, () => performance.now(), signal)
  return Promise.all([...runs, sampling]).then(
    () => {
      clearInterval(ticker)
      progress.stop()
    },
    (e) => {
      clearInterval(ticker)
      progress.stop()
      throw e
    }
  )
}

/** Run the bench once as configured; the output dir receives results.json and the charts. */
export const runBench = (config: BenchConfig): Effect.Effect<Results, BenchError> =>
  Effect.gen(function* () {
    const invalid = validateConfig(config)
    if (invalid !== undefined) return yield* invalid
    yield* Effect.try({
      try: () => mkdirSync(config.outDir, { recursive: true }),
      catch: (e) => new BenchRunFailed({ message: `cannot create ${config.outDir}: ${String(e)}` })
    })
    const startedAt = new Date()
    const target = yield* startTarget(config)
    const clients = yield* openClients(target, config)
    const recorder = new Recorder(measuredSeconds(config))
    const sampler = new Sampler(target)
    yield* Effect.tryPromise({
      try: (signal) => drive(config, target, clients, recorder, sampler, signal),
      catch: (e) => new BenchRunFailed({ message: `the load loop failed: ${String(e)}` })
    })
    const finishedAt = new Date()
    const sampled = sampler.report()
    const partial = buildResults({
      config,
      targetVersion: target.version,
      endpoints: target.endpoints,
      recorder,
      sampled,
      persistMetric: target.metrics.persist,
      startedAt,
      finishedAt,
      commit: gitCommit(),
      charts: []
    })
    const charts = yield* Effect.try({
      try: () => writeRunCharts(config.outDir, partial, recorder),
      catch: (e) => new BenchRunFailed({ message: `cannot draw the charts: ${String(e)}` })
    })
    const results: Results = { ...partial, charts }
    yield* Effect.try({
      try: () => writeFileSync(join(config.outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`),
      catch: (e) => new BenchRunFailed({ message: `cannot write results.json: ${String(e)}` })
    })
    return results
  }).pipe(Effect.scoped)
