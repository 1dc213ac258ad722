/**
 * Vocabulary of KV histories checked by the linearizability checker.
 *
 * Model (per key, a versioned register): an absent key has version 0; a write that creates the
 * key gives it version 1 (also after a delete: versions restart at 1); every further successful
 * write adds 1. `expectedVersion` must equal the current version (0 = only if absent), otherwise
 * the operation fails with VersionMismatch carrying the current version and changes nothing.
 *
 * @module
 */

/** An operation a client invoked on one key. Values are strings (callers convert bytes). */
export type Op =
  | { readonly _tag: "Get" }
  | { readonly _tag: "Put"; readonly value: string; readonly expectedVersion?: number }
  | { readonly _tag: "Delete"; readonly expectedVersion?: number }

/**
 * What the client observed.
 * - Get: `Found` or `Absent`.
 * - Put: `Written` (the key's new version) or `VersionMismatch`.
 * - Delete: `Deleted` (`deleted: false` when the key was already absent) or `VersionMismatch`.
 */
export type Result =
  | { readonly _tag: "Found"; readonly value: string; readonly version: number }
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Written"; readonly version: number }
  | { readonly _tag: "Deleted"; readonly deleted: boolean }
  | { readonly _tag: "VersionMismatch"; readonly currentVersion: number }

/**
 * One operation of a history.
 *
 * `call` and `ret` are times on one clock shared by all clients (any unit). An operation whose
 * outcome is unknown (a client timeout: a write may or may not have happened, possibly later)
 * has `result: undefined`; its `ret` is then ignored and it may take effect at any point after
 * `call`, or never. A result with `ret: undefined` means a known outcome at an unknown time (it
 * must be linearized, at any point after `call`). Operations that definitely failed without
 * effect (e.g. rejected for size) should be left out of the history.
 */
export interface HistoryRecord {
  readonly clientId: number
  readonly key: string
  readonly op: Op
  readonly call: number
  readonly ret: number | undefined
  readonly result: Result | undefined
}

/** Options of `checkHistory`. */
export interface CheckOptions {
  /** Wall-clock budget for the whole check (default 10 000 ms). */
  readonly timeoutMs?: number
  /** Deterministic budget: search steps over all keys (default unlimited). */
  readonly maxSteps?: number
}

/**
 * Outcome of a check. Only `ok: true` means "linearizable": an exhausted budget is `unknown`,
 * never a pass.
 */
export type CheckResult =
  | { readonly ok: true; readonly status: "linearizable" }
  | {
      readonly ok: false
      readonly status: "violation"
      /** The smallest key (by number of ops) whose sub-history is not linearizable. */
      readonly key: string
      /** Human-readable: the key's ops in call order with times, and where the search got stuck. */
      readonly explanation: string
    }
  | {
      readonly ok: false
      readonly status: "unknown"
      /** Keys whose search ran out of budget. */
      readonly keys: ReadonlyArray<string>
      readonly explanation: string
    }
  | { readonly ok: false; readonly status: "invalid"; readonly explanation: string }

/** Constructors for ops and results, to keep recorders and tests short. */
export const get: Op = { _tag: "Get" }
export const put = (value: string, expectedVersion?: number): Op =>
  expectedVersion === undefined ? { _tag: "Put", value } : { _tag: "Put", value, expectedVersion }
export const del = (expectedVersion?: number): Op =>
  expectedVersion === undefined ? { _tag: "Delete" } : { _tag: "Delete", expectedVersion }
export const found = (value: string, version: number): Result => ({ _tag: "Found", value, version })
export const absent: Result = { _tag: "Absent" }
export const written = (version: number): Result => ({ _tag: "Written", version })
export const deleted = (wasPresent: boolean): Result => ({ _tag: "Deleted", deleted: wasPresent })
export const mismatch = (currentVersion: number): Result => ({ _tag: "VersionMismatch", currentVersion })
