/**
 * The `StateMachine` service: the application the Raft log drives (the KV store, or a small test
 * machine). The runtime calls it from the node's single event loop, so calls never overlap.
 */
import { Context, type Effect, type Stream } from "effect"
import type { Entry, SnapshotMeta } from "../core/types.ts"
import type { SnapshotRestoreError } from "./errors.ts"

export interface StateMachineShape {
  /**
   * Apply the committed entry at `index`. Deterministic: every replica applying the same entries
   * reaches the same state and returns the same result. Returns the result handed back to the
   * proposer (no-op entries are applied too, so the machine sees every index).
   */
  readonly apply: (index: number, entry: Entry) => unknown
  /**
   * A point-in-time snapshot of the state as of the last applied entry, as a stream of chunks.
   * The runtime may keep applying entries while it consumes the stream, so the machine must give
   * a consistent view (copy-on-write, or a frozen index of immutable values).
   */
  readonly snapshot: () => Stream.Stream<Uint8Array>
  /** Replace the whole state with a snapshot's (as of `meta.index`). */
  readonly restore: <E>(
    meta: SnapshotMeta,
    chunks: Stream.Stream<Uint8Array, E>
  ) => Effect.Effect<void, E | SnapshotRestoreError>
}

/** The replicated application of a node. */
export class StateMachine extends Context.Service<StateMachine, StateMachineShape>()("raftkv/StateMachine") {}
