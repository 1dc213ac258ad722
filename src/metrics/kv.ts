/**
 * Helpers for the KV client server: report each request to the MetricsSink with its method,
 * outcome and duration (`raftkv_kv_requests_total`, `raftkv_kv_request_duration_seconds`).
 */
import { Cause, Effect, Exit } from "effect"
import type { MetricsSinkShape } from "./MetricsSink.ts"

/** `NotLeader` -> `not_leader`, `ReadNotConfirmed` -> `read_not_confirmed`. */
export const snakeCase = (tag: string): string =>
  tag
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()

/**
 * The outcome label of a finished request: `ok`, the snake_case tag of a typed failure
 * (`not_leader`, `busy`, ...), `interrupted` (the client went away), or `defect`.
 */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  for (const reason of exit.cause.reasons) {
    if (Cause.isFailReason(reason)) {
      const tag = (reason.error as { readonly _tag?: unknown } | null)?._tag
      return typeof tag === "string" ? snakeCase(tag) : "error"
    }
  }
  return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "defect"
}

/**
 * Run `effect` as one client request of `method` (snake_case, e.g. `get`, `put`, `delete`,
 * `open_session`), reporting its outcome and duration to `sink` when it ends, however it ends.
 */
export const observeRequest = <A, E, R>(
  sink: MetricsSinkShape,
  method: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.clockWith((clock) => {
    const started = clock.monotonicTimeNanosUnsafe()
    // The report is synchronous: returning no finalizer effect spares a flatMap per request.
    return Effect.onExitPrimitive(effect, (exit) => {
      sink.kvRequest(method, outcomeOf(exit), Number(clock.monotonicTimeNanosUnsafe() - started) / 1e9)
      return undefined
    })
  })

/**
 * The timer of one request `method` (see {@link observeRequest}), made once per method:
 * `observe(body)` builds the request's effect with `body()` when the request starts (a throw is a
 * defect, reported as such) and reports its outcome and duration when it ends, however it ends.
 */
export const requestObserver =
  (sink: MetricsSinkShape, method: string) =>
  <A, E, R>(body: () => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.clockWith((clock) => {
      const started = clock.monotonicTimeNanosUnsafe()
      let effect: Effect.Effect<A, E, R>
      try {
        effect = body()
      } catch (defect) {
        effect = Effect.die(defect)
      }
      return Effect.onExitPrimitive(effect, (exit) => {
        sink.kvRequest(method, outcomeOf(exit), Number(clock.monotonicTimeNanosUnsafe() - started) / 1e9)
        return undefined
      })
    })
