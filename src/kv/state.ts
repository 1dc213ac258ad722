/**
 * The data of the KV state machine, shared by apply (state-machine.ts) and the snapshot writer and
 * restorer (snapshot.ts). Internal: use KvStateMachine.
 */
import type { KvConfig } from "./limits.ts"
import { SessionTable } from "./sessions.ts"
import type { SnapshotStream } from "./snapshot.ts"

/** A stored value and its version (>= 1). Immutable: a put stores a new record. */
export interface KvRecord {
  readonly value: Uint8Array
  readonly version: number
}

/** How a record is stored: `index` is the log index that wrote it (0 when restored from a
 * snapshot) and `mark` the id of the last snapshot stream that emitted it (see snapshot.ts). */
export interface StoredRecord extends KvRecord {
  readonly index: number
  mark: number
}

/** The state a snapshot captures. Exposed for snapshot.ts; not part of the public API. */
export interface KvState {
  readonly data: Map<string, StoredRecord>
  readonly sessions: SessionTable
  appliedIndex: number
  /** Term of the entry at appliedIndex (0 when nothing was applied). */
  appliedTerm: number
  logTime: number
  /** Sum of key and value lengths (for metrics and snapshot size estimates). */
  dataBytes: number
  /** The open snapshot stream over this state, if any (it is handed the records apply replaces
   * while it runs). */
  stream: SnapshotStream | undefined
}

export const emptyKvState = (config: KvConfig): KvState => ({
  data: new Map(),
  sessions: new SessionTable(config.sessionTtlMs, config.maxSessions, config.sessionResultWindow),
  appliedIndex: 0,
  appliedTerm: 0,
  logTime: 0,
  dataBytes: 0,
  stream: undefined
})
