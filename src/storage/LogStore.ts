/**
 * The `LogStore` service: a node's durable Raft state (term, vote, log, snapshot) in its data dir.
 *
 * Two layers provide it with the same semantics: disk (`layerDisk` in `disk.ts`: segment files or LevelDB) and memory
 * (`layerMemory` in `memory.ts`). Opening a store checks the data dir's identity, so a layer fails
 * to build with `DataDirMismatch`, `CorruptDataDir`, `DataDirUnwritable` or `StorageIOError`.
 */
import type { Effect, Stream } from "effect"
import { Context } from "effect"
import type { Restored } from "../core/raft.ts"
import type { Persist, PersistSnapshotChunk, SnapshotMeta } from "../core/types.ts"
import type { Identity } from "./codec.ts"
import type { CorruptDataDir, SnapshotNotFound, StorageIOError } from "./errors.ts"

export type { Identity } from "./codec.ts"

/** One durable write of the core, in `writeId` order. */
export type DurableWrite = Persist | PersistSnapshotChunk

/** Where a snapshot ends, before its size is known. */
export interface SnapshotTarget {
  readonly index: number
  readonly term: number
}

/** Snapshot data to save: an Effect stream or any async iterable of byte chunks. A failure of an
 * async iterable is a defect (the state machine is local code); a stream's typed error is kept. */
export type SnapshotSource<E> = Stream.Stream<Uint8Array, E> | AsyncIterable<Uint8Array>

export interface LogStoreShape {
  /** The identity this store was opened with (and that its data dir records). */
  readonly identity: Identity

  /**
   * What the core's `initial()` needs: hard state, the latest snapshot, and the entries after it
   * in order. Every entry is validated; a bad value or a gap fails with `CorruptDataDir` naming
   * the key.
   */
  readonly load: Effect.Effect<Restored, CorruptDataDir | StorageIOError>

  /**
   * Make a group of the core's durable writes durable, in order, as ONE synced LevelDB batch
   * (group commit). `Persist`: the hard state replaces term/vote when present; `log` deletes
   * every entry at index >= `from`, then writes `entries` at `from`, `from + 1`, ...
   * `PersistSnapshotChunk`: appended to the incoming snapshot's temp file and fsynced (offset 0
   * starts a new one, discarding a partial one); with `done` the file is renamed into place and
   * the snapshot meta and log replacement join the same batch. Durable when the effect succeeds.
   *
   * Calls are serialised (a call waits for the previous one), so callers may not reorder writes.
   * After a failure the on-disk state is unknown: the node should stop (a restart recovers).
   * A write that breaks the core's invariants (a gap, a chunk out of order) is a defect.
   */
  readonly write: (writes: ReadonlyArray<DurableWrite>) => Effect.Effect<void, StorageIOError>

  /** Same as `write([chunk])`. */
  readonly writeSnapshotChunk: (chunk: PersistSnapshotChunk) => Effect.Effect<void, StorageIOError>

  /** Delete entries <= `upTo` (not synced: a durable snapshot already covers them). */
  readonly compact: (upTo: number) => Effect.Effect<void, StorageIOError>

  /**
   * Save the state machine's snapshot through `target` (atomically: temp file, fsync, rename,
   * fsync of the directory) and record it durably as the node's snapshot; the older snapshot file
   * is removed after. If a snapshot with a higher index was recorded meanwhile (e.g. installed from
   * the leader), that one stays and is returned instead.
   */
  readonly saveSnapshot: <E>(
    target: SnapshotTarget,
    chunks: SnapshotSource<E>
  ) => Effect.Effect<SnapshotMeta, StorageIOError | E>

  /** Bytes `[offset, offset + length)` of the stored snapshot `meta` (shorter at its end). */
  readonly readSnapshotChunk: (
    meta: SnapshotMeta,
    offset: number,
    length: number
  ) => Effect.Effect<Uint8Array, StorageIOError | SnapshotNotFound>

  /** The whole stored snapshot `meta` as a stream of chunks (for a state-machine restore). The
   * file stays readable until the stream ends, even if a newer snapshot replaces it meanwhile. */
  readonly openSnapshot: (meta: SnapshotMeta) => Stream.Stream<Uint8Array, StorageIOError | SnapshotNotFound>
}

/** The node's durable Raft storage. */
export class LogStore extends Context.Service<LogStore, LogStoreShape>()("raftkv/LogStore") {}
