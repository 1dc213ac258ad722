import type { RaftConfig } from "./config.ts"
import type { RaftState } from "./state.ts"
import type { Command, Entry, Event, HardState, SnapshotMeta } from "./types.ts"

/** What a node recovered from durable storage at start-up. */
export interface Restored {
  readonly hardState: HardState
  /** The latest durable snapshot, if any. */
  readonly snapshot: SnapshotMeta | undefined
  /** The log entries after the snapshot (or from index 1), in order. */
  readonly entries: ReadonlyArray<Entry>
}

export interface StepResult {
  readonly state: RaftState
  readonly commands: ReadonlyArray<Command>
}

/** A node (re)starting as a follower from what it recovered. */
export const initial = (_config: RaftConfig, _restored: Restored, _now: number, _random: number): StepResult => {
  throw new Error("not yet implemented")
}

/** Advance one node by one event. Pure: the input state is never modified. */
export const step = (_state: RaftState, _event: Event): StepResult => {
  throw new Error("not yet implemented")
}
