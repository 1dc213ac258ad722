/**
 * What applying one log entry produced. Plain tagged objects (no classes): one is allocated per
 * applied write, on every replica. The service maps the error-like ones onto the protocol's
 * tagged errors (protocol.ts).
 */

/** A put took effect; the key now has `version`. */
export interface WrittenResult {
  readonly _tag: "Written"
  readonly version: number
}

/** A delete ran; `deleted` is false when the key was already absent. */
export interface DeletedResult {
  readonly _tag: "Deleted"
  readonly deleted: boolean
}

/** A conditional write found another version; nothing changed. */
export interface VersionMismatchResult {
  readonly _tag: "VersionMismatch"
  readonly currentVersion: number
}

export interface KeyTooLargeResult {
  readonly _tag: "KeyTooLarge"
  readonly size: number
  readonly limit: number
}

export interface ValueTooLargeResult {
  readonly _tag: "ValueTooLarge"
  readonly size: number
  readonly limit: number
}

/** Results a session remembers for its (session, seq) and replays to a retry. */
export type WriteResult =
  | WrittenResult
  | DeletedResult
  | VersionMismatchResult
  | KeyTooLargeResult
  | ValueTooLargeResult

/** The session is unknown: it expired, was evicted or closed, or never existed. Nothing changed;
 * the client must open a new session (and cannot tell whether an earlier attempt of this write,
 * if any, took effect). */
export interface SessionExpiredResult {
  readonly _tag: "SessionExpired"
  readonly session: number
}

/** `seq` is older than what the session still remembers (at or below the client's `ack`, or pushed
 * out of the result window): a late duplicate. Nothing changed; its original result is gone. */
export interface StaleSequenceResult {
  readonly _tag: "StaleSequence"
  readonly session: number
  readonly seq: number
}

/** The entry's payload could not be decoded; nothing changed (same on every replica). */
export interface InvalidCommandResult {
  readonly _tag: "InvalidCommand"
  readonly reason: string
}

export interface SessionOpenedResult {
  readonly _tag: "SessionOpened"
  readonly session: number
}

export interface SessionClosedResult {
  readonly _tag: "SessionClosed"
  readonly closed: boolean
}

/** A leader's no-op entry. */
export interface NoopResult {
  readonly _tag: "Noop"
}

export type ApplyResult =
  | WriteResult
  | SessionExpiredResult
  | StaleSequenceResult
  | InvalidCommandResult
  | SessionOpenedResult
  | SessionClosedResult
  | NoopResult
