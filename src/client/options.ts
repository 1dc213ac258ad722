/** What a client is configured with, the defaults, and their validation. */
import { parseEndpoint } from "./endpoint.ts"
import { InvalidClientOptions } from "./errors.ts"

/** The RPCs the client issues, as named in {@link RetryEvent}. */
export type Operation = "Get" | "Put" | "Delete" | "OpenSession" | "CloseSession" | "Status"

/** Reported (synchronously) before every retry: useful for logs and for saying why a call timed out. */
export interface RetryEvent {
  readonly operation: Operation
  /** The node the failed attempt went to. */
  readonly endpoint: string
  /** 1 for the first retry. */
  readonly attempt: number
  /** Tag of the error that caused the retry (NotLeader, Busy, ConnectionLost...). */
  readonly error: string
  /** One line describing it. */
  readonly detail: string
  /** Where the next attempt goes. */
  readonly next: string
  readonly delayMs: number
}

export interface KvClientOptions {
  /** Client addresses of the cluster's nodes (`host:port`); any subset works, the client
   * follows NotLeader hints to nodes it was not told about. */
  readonly endpoints: ReadonlyArray<string>
  /** Deadline of one call, retries included; its expiry fails the call with `Timeout`. Default 5000. */
  readonly timeoutMs?: number
  readonly retry?: {
    /** First backoff delay, doubled on every retry up to `maxDelayMs`, with jitter. Default 20. */
    readonly baseDelayMs?: number
    /** Default 1000. */
    readonly maxDelayMs?: number
  }
  /** Give up dialing a node after this long (then try another). Default 1000. */
  readonly connectTimeoutMs?: number
  /** Ping interval on idle connections; a connection silent for this long is dropped. Default 5000. */
  readonly keepAliveMs?: number
  /** Most writes of the session in flight at once (seq - ack). Must not exceed the servers'
   * `sessionResultWindow` (default 128): beyond it their results could be dropped. Default 64:
   * half the window, because the servers also keep some already-acknowledged results when
   * writes apply out of seq order (as retries after a failover do), and those use window room. */
  readonly maxWritesInFlight?: number
  /** Called before every retry. */
  readonly onRetry?: (event: RetryEvent) => void
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  readonly endpoints: ReadonlyArray<string>
  readonly timeoutMs: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  readonly connectTimeoutMs: number
  readonly keepAliveMs: number
  readonly maxWritesInFlight: number
  readonly onRetry: ((event: RetryEvent) => void) | undefined
}

export const DEFAULT_TIMEOUT_MS = 5000

const positive = (name: string, value: number): InvalidClientOptions | undefined =>
  Number.isFinite(value) && value > 0
    ? undefined
    : new InvalidClientOptions({ detail: `${name} must be a positive number, got ${value}` })

/** Fills in the defaults; fails on an empty or malformed endpoint list or a bad number. */
export const resolveOptions = (options: KvClientOptions): ResolvedOptions | InvalidClientOptions => {
  const endpoints = [...new Set(options.endpoints.map((e) => e.trim()).filter((e) => e !== ""))]
  if (endpoints.length === 0) return new InvalidClientOptions({ detail: "no endpoints given" })
  const bad = endpoints.find((e) => parseEndpoint(e) === undefined)
  if (bad !== undefined) {
    return new InvalidClientOptions({ detail: `endpoint "${bad}" is not host:port` })
  }
  const resolved: ResolvedOptions = {
    endpoints,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    baseDelayMs: options.retry?.baseDelayMs ?? 20,
    maxDelayMs: options.retry?.maxDelayMs ?? 1000,
    connectTimeoutMs: options.connectTimeoutMs ?? 1000,
    keepAliveMs: options.keepAliveMs ?? 5000,
    maxWritesInFlight: options.maxWritesInFlight ?? 64,
    onRetry: options.onRetry
  }
  const checks: Array<[string, number]> = [
    ["timeoutMs", resolved.timeoutMs],
    ["retry.baseDelayMs", resolved.baseDelayMs],
    ["retry.maxDelayMs", resolved.maxDelayMs],
    ["connectTimeoutMs", resolved.connectTimeoutMs],
    ["keepAliveMs", resolved.keepAliveMs],
    ["maxWritesInFlight", resolved.maxWritesInFlight]
  ]
  for (const [name, value] of checks) {
    const error = positive(name, value)
    if (error !== undefined) return error
  }
  if (!Number.isInteger(resolved.maxWritesInFlight)) {
    return new InvalidClientOptions({ detail: "maxWritesInFlight must be an integer" })
  }
  return resolved
}
