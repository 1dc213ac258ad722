/**
 * Size limits on keys and values, and the session settings of the KV state machine.
 *
 * Limits are checked twice: at the client port (a fast reject before anything is proposed) and in
 * apply (so an entry proposed by a node with other settings still gets the same result on every
 * replica). All replicas of a cluster must run with the same {@link KvConfig}: it is part of the
 * deterministic state machine.
 */
import type { KeyTooLargeResult, ValueTooLargeResult } from "./results.ts"

export interface KvConfig {
  /** Largest key in bytes. Default 4 KiB. */
  readonly maxKeyBytes: number
  /** Largest value in bytes. Default 1 MiB (so an entry is a little over 1 MiB: size transport
   * frames and AppendEntries byte limits above that). */
  readonly maxValueBytes: number
  /** A session idle for more than this much log time (ms of the leaders' clocks) expires.
   * Default 10 minutes: far above any client retry horizon, so a retry never meets an expired
   * session unless the client was gone that long. */
  readonly sessionTtlMs: number
  /** Most sessions kept; opening one more evicts the least recently active. Default 65536. */
  readonly maxSessions: number
  /** Most un-acknowledged write results remembered per session (the client's in-flight window
   * for exactly-once retries). Default 128. */
  readonly sessionResultWindow: number
}

export const defaultKvConfig: KvConfig = {
  maxKeyBytes: 4 * 1024,
  maxValueBytes: 1024 * 1024,
  sessionTtlMs: 10 * 60 * 1000,
  maxSessions: 65_536,
  sessionResultWindow: 128
}

/** `defaultKvConfig` with overrides; every field must be a positive safe integer. */
export const makeKvConfig = (overrides: Partial<KvConfig> = {}): KvConfig => {
  const config = { ...defaultKvConfig, ...overrides }
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`KvConfig.${name} must be a positive safe integer, got ${value}`)
    }
  }
  return config
}

/**
 * The limit a key (and value, for a put) breaks, or undefined when both fit. Used by the client
 * port to reject early and by apply; both give the same answer.
 */
export const checkLimits = (
  config: Pick<KvConfig, "maxKeyBytes" | "maxValueBytes">,
  key: Uint8Array,
  value: Uint8Array | undefined
): KeyTooLargeResult | ValueTooLargeResult | undefined => {
  if (key.length > config.maxKeyBytes) {
    return { _tag: "KeyTooLarge", size: key.length, limit: config.maxKeyBytes }
  }
  if (value !== undefined && value.length > config.maxValueBytes) {
    return { _tag: "ValueTooLarge", size: value.length, limit: config.maxValueBytes }
  }
  return undefined
}
