/**
 * Reconnect delays: exponential backoff with "equal jitter" (half fixed, half random), so peers
 * that lost a node at the same moment do not redial it in lockstep, yet never retry faster than
 * half the nominal delay.
 */

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry), in milliseconds:
 * `d = min(maxMillis, minMillis * 2^attempt)`, then uniformly in `[d/2, d)` by `random` in [0, 1).
 */
export const backoffMillis = (
  attempt: number,
  minMillis: number,
  maxMillis: number,
  random: number
): number => {
  const nominal = Math.min(maxMillis, minMillis * 2 ** Math.min(attempt, 40))
  return nominal / 2 + (random * nominal) / 2
}
