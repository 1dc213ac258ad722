/**
 * The retry loop every call goes through: send to the node the router names, and on a retryable
 * answer update the router and try again after a backoff. It never gives up by itself: each
 * call runs under its deadline (KvClient), whose expiry is the caller's `Timeout`.
 *
 * What is retried (see the retry guide in src/kv/protocol.ts):
 * - NotLeader, ReadNotConfirmed, LeadershipLost: follow the leader hint (at once, the first time
 *   in a row), or move to the next endpoint after a backoff when there is none;
 * - Busy: the same node, after a backoff;
 * - a lost or refused connection (a node shutting down closes its connections): the next
 *   endpoint, after a backoff.
 * The attempt is rebuilt from the same inputs each time, so a write keeps its (session, seq).
 */
import { Cause, Effect, Random, Result } from "effect"
import type { Busy, LeadershipLost, NotLeader, ReadNotConfirmed } from "../kv/protocol.ts"
import { backoffDelay } from "./backoff.ts"
import type { ConnectionPool, NodeConnection } from "./connections.ts"
import { ConnectionLost, NodeUnreachable } from "./errors.ts"
import type { Operation, ResolvedOptions } from "./options.ts"
import type { Router } from "./router.ts"

/** Answers that only mean "not here, not now". */
export type Retryable = NotLeader | Busy | LeadershipLost | ReadNotConfirmed

const retryableTags: ReadonlySet<string> = new Set([
  "NotLeader",
  "Busy",
  "LeadershipLost",
  "ReadNotConfirmed"
])

const tagOf = (u: unknown): string | undefined => {
  const tag = (u as { readonly _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : undefined
}

export const isRetryable = (u: unknown): u is Retryable => retryableTags.has(tagOf(u) ?? "")

export interface Caller {
  readonly options: ResolvedOptions
  readonly router: Router
  readonly pool: ConnectionPool
}

export interface RetryingOptions {
  /** Only the leader can answer (writes, linearizable reads): a success confirms the leader. */
  readonly leaderOnly: boolean
  /** Told when a failed attempt may nevertheless have reached the log (connection lost after
   * sending, LeadershipLost): a write's outcome then depends on its retries. */
  readonly onUncertain?: () => void
}

export interface Answer<A> {
  readonly value: A
  readonly endpoint: string
}

/** One line about a failed attempt, for {@link RetryEvent}. */
export const describeAttemptError = (error: unknown): string => {
  if (error instanceof NodeUnreachable) return error.message
  if (error instanceof ConnectionLost) {
    return error.phase === "open" ? `cannot connect (${error.detail})` : `connection lost (${error.detail})`
  }
  const hint = (error as { readonly leaderHint?: unknown }).leaderHint
  switch (tagOf(error)) {
    case "NotLeader":
      return `not the leader${typeof hint === "string" ? ` (leader: ${hint})` : " (leader unknown)"}`
    case "LeadershipLost":
      return "leadership lost before the write committed"
    case "ReadNotConfirmed":
      return `read not confirmed (${(error as ReadNotConfirmed).reason})`
    case "Busy":
      return "leader busy"
    default:
      return String(error)
  }
}

/** May a failed connection have carried the request? Not when it never opened. */
const maybeSent = (error: ConnectionLost | NodeUnreachable): boolean =>
  error instanceof ConnectionLost && error.phase === "lost"

/**
 * Sends `attempt` to the node the router names until it answers with anything but a retryable
 * error. Plain combinators, no generator: the first attempt (which usually succeeds) costs one
 * match on top of the RPC.
 */
export const retrying = <A, E>(
  caller: Caller,
  operation: Operation,
  attempt: (node: NodeConnection) => Effect.Effect<A, E | ConnectionLost>,
  options: RetryingOptions
): Effect.Effect<Answer<A>, Exclude<E, Retryable>> =>
  Effect.suspend(() => retryLoop(caller, operation, attempt, options))

/** One run of {@link retrying}, with its own retry count. */
const retryLoop = <A, E>(
  caller: Caller,
  operation: Operation,
  attempt: (node: NodeConnection) => Effect.Effect<A, E | ConnectionLost>,
  options: RetryingOptions
): Effect.Effect<Answer<A>, Exclude<E, Retryable>> => {
  const { router, pool } = caller
  let retries = 0
  let lastWasImmediate = false
  const send = (): Effect.Effect<Answer<A>, Exclude<E, Retryable>> => {
    const endpoint = router.target()
    const node = pool.ready(endpoint)
    const call = node === undefined ? Effect.flatMap(pool.get(endpoint), attempt) : attempt(node)
    return Effect.matchCauseEffect(call, {
      onSuccess: (value) => {
        if (options.leaderOnly) router.confirmed(endpoint)
        return Effect.succeed({ value, endpoint })
      },
      onFailure: (cause) => afterFailure(cause, endpoint)
    })
  }
  /** Classifies a failed attempt: fails the call, or waits the backoff and sends again. */
  const afterFailure = (
    cause: Cause.Cause<E | ConnectionLost | NodeUnreachable>,
    endpoint: string
  ): Effect.Effect<Answer<A>, Exclude<E, Retryable>> => {
    const found = Cause.findError(cause)
    let error: unknown
    let immediate = false
    // No typed error: a defect (a node dropping a call shows as its connection closing).
    if (Result.isFailure(found)) return Effect.failCause(found.failure)
    if (found.success instanceof ConnectionLost || found.success instanceof NodeUnreachable) {
      error = found.success
      if (maybeSent(found.success)) options.onUncertain?.()
      router.passOver(endpoint)
    } else if (isRetryable(found.success)) {
      error = found.success
      if (found.success._tag === "LeadershipLost") options.onUncertain?.()
      if (found.success._tag !== "Busy") immediate = router.redirected(endpoint, found.success.leaderHint)
    } else {
      return Effect.fail(found.success as Exclude<E, Retryable>)
    }
    retries++
    const { baseDelayMs, maxDelayMs, onRetry } = caller.options
    // One immediate redirect in a row: two nodes naming each other must not spin.
    const delay: Effect.Effect<number> =
      immediate && !lastWasImmediate
        ? Effect.succeed(0)
        : Effect.map(Random.next, (jitter) => backoffDelay(retries, baseDelayMs, maxDelayMs, jitter))
    return Effect.flatMap(delay, (delayMs) => {
      lastWasImmediate = delayMs === 0
      onRetry?.({
        operation,
        endpoint,
        attempt: retries,
        error: tagOf(error) ?? "Error",
        detail: describeAttemptError(error),
        next: router.target(),
        delayMs
      })
      return delayMs > 0 ? Effect.andThen(Effect.sleep(delayMs), Effect.suspend(send)) : send()
    })
  }
  return send()
}
