/**
 * Retry delays: exponential in the attempt number, capped, with "equal jitter" (half the delay
 * fixed, half random) so clients that failed together do not retry in lockstep, yet never retry
 * at once in a tight loop.
 */

/** The delay before retry `attempt` (1 = first retry); `random` is uniform in [0, 1). */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random: number): number => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(ceiling / 2 + (ceiling / 2) * random)
}
