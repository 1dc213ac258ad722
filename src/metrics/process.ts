/**
 * Node.js process metrics (CPU, memory, file descriptors, event-loop delay) under the names
 * prom-client uses, read at scrape time. Event-loop delay comes from `perf_hooks`'
 * `monitorEventLoopDelay`, reset at every scrape, so its figures cover the last scrape interval.
 */
import { readdirSync } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, type Scope } from "effect"
import { processMetrics as P } from "./catalog.ts"
import { type Recorder, totalTracker } from "./recorder.ts"

const NS = 1e9

/** Open file descriptors (Linux); undefined where /proc is not available. */
const openFds = (): number | undefined => {
  try {
    return readdirSync("/proc/self/fd").length
  } catch {
    return undefined
  }
}

/**
 * Registers the process metrics on `rec` and returns the function that refreshes them; the
 * event-loop monitor runs until the scope closes.
 */
export const processCollector = (rec: Recorder): Effect.Effect<() => void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const monitor = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const h = monitorEventLoopDelay({ resolution: 10 })
        h.enable()
        return h
      }),
      (h) => Effect.sync(() => h.disable())
    )
    const cpuUser = totalTracker(rec.counter(P.cpuUser))
    const cpuSystem = totalTracker(rec.counter(P.cpuSystem))
    const cpu = totalTracker(rec.counter(P.cpu))
    const rss = rec.gauge(P.residentMemory)
    const fds = rec.gauge(P.openFds)
    const heapTotal = rec.gauge(P.heapTotal)
    const heapUsed = rec.gauge(P.heapUsed)
    const external = rec.gauge(P.external)
    const lag = rec.gauge(P.lag)
    const lagMax = rec.gauge(P.lagMax)
    const lagP50 = rec.gauge(P.lagP50)
    const lagP99 = rec.gauge(P.lagP99)
    rec.gauge(P.startTime).set(Math.round((Date.now() - performance.now()) / 1000))
    const [major = "0", minor = "0", patch = "0"] = process.versions.node.split(".")
    rec.gauge(P.version, { version: process.version, major, minor, patch }).set(1)

    return () => {
      const usage = process.cpuUsage()
      cpuUser(usage.user / 1e6)
      cpuSystem(usage.system / 1e6)
      cpu((usage.user + usage.system) / 1e6)
      const mem = process.memoryUsage()
      rss.set(mem.rss)
      heapTotal.set(mem.heapTotal)
      heapUsed.set(mem.heapUsed)
      external.set(mem.external)
      const n = openFds()
      if (n !== undefined) fds.set(n)
      // No sample yet (a scrape right after start or another scrape): report no delay, not NaN.
      const sampled = monitor.count > 0
      lag.set(sampled ? monitor.mean / NS : 0)
      lagMax.set(sampled ? monitor.max / NS : 0)
      lagP50.set(sampled ? monitor.percentile(50) / NS : 0)
      lagP99.set(sampled ? monitor.percentile(99) / NS : 0)
      monitor.reset()
    }
  })
