/**
 * The closed loop: every client sends one operation, waits for its answer (or error), and sends
 * the next, from the start of the warm-up until the end of the measured window.
 */
import { performance } from "node:perf_hooks"
import { setTimeout as sleep } from "node:timers/promises"
import type { Recorder } from "./recorder.ts"
import { type BenchClient, errorKind } from "./target.ts"
import type { Op } from "./workload.ts"

export interface LoopTimeline {
  /** performance.now() at which measuring starts (the warm-up ends). */
  readonly measureStart: number
  /** performance.now() at which measuring ends; no operation is sent after it. */
  readonly measureEnd: number
}

/** After an error, a client pauses this long so an instant failure cannot spin the CPU. */
const ERROR_PAUSE_MS = 10

/** A client answering from microtasks alone would starve timers (ticks, abort): yield this often. */
const YIELD_EVERY = 256

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Runs `client` in a closed loop until `timeline.measureEnd` or `signal` aborts; completions
 * inside the measured window are recorded in `recorder`, earlier ones counted as warm-up.
 */
export const runClient = async (
  client: BenchClient,
  next: () => Op,
  recorder: Recorder,
  timeline: LoopTimeline,
  signal: AbortSignal
): Promise<void> => {
  const { measureStart, measureEnd } = timeline
  for (let n = 1; !signal.aborted; n++) {
    if (n % YIELD_EVERY === 0) await yieldToEventLoop()
    const sent = performance.now()
    if (sent >= measureEnd) return
    const op = next()
    let failure: unknown
    let failed = false
    try {
      if (op.kind === "read") await client.get(op.key)
      else await client.put(op.key, op.value)
    } catch (error) {
      failed = true
      failure = error
    }
    const done = performance.now()
    if (done < measureStart) {
      if (failed) recorder.warmupErrors++
      else recorder.warmupOps++
    } else if (done < measureEnd) {
      const second = Math.floor((done - measureStart) / 1000)
      if (failed) recorder.recordError(second, errorKind(failure))
      else recorder.record(second, op.kind, (done - sent) * 1000)
    }
    if (failed && !signal.aborted) await sleep(ERROR_PAUSE_MS)
  }
}
