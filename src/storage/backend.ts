/**
 * The two primitive stores a `LogStore` is built on, so that the LevelDB and memory layers share
 * one implementation of the Raft storage rules (`store.ts`) and differ only here:
 * - `KvStore`: ordered keys with atomic (optionally synced) batches - LevelDB or a pair of maps;
 * - `FileStore`: the data dir's files (identity, snapshots) - node:fs or a map of paths.
 * Paths given to a `FileStore` are relative to its root, with `/` separators.
 */
import type { Effect, Scope } from "effect"
import type { MetaName } from "./codec.ts"
import type { CorruptDataDir, DataDirUnwritable, StorageIOError } from "./errors.ts"

/** A raw stored entry: its index and its still-encoded value. */
export interface RawEntry {
  readonly index: number
  readonly value: Uint8Array
}

/** An atomic write batch, built synchronously and then written once. */
export interface KvBatch {
  readonly putEntry: (index: number, value: Uint8Array) => void
  readonly delEntry: (index: number) => void
  readonly putMeta: (name: MetaName, value: Uint8Array) => void
  /** Number of operations added so far. */
  readonly size: () => number
  /** Apply every operation atomically; with `sync`, durable (fsynced) on success. */
  readonly write: (sync: boolean) => Effect.Effect<void, StorageIOError>
}

export interface KvStore {
  /** Where the store lives, for error messages. */
  readonly location: string
  readonly getMeta: (name: MetaName) => Effect.Effect<Uint8Array | undefined, StorageIOError | CorruptDataDir>
  /** Does the store hold any key at all (a fresh store holds none)? */
  readonly isEmpty: Effect.Effect<boolean, StorageIOError | CorruptDataDir>
  /** Lowest and highest stored entry index, or undefined when no entry is stored. */
  readonly entryBounds: Effect.Effect<
    { readonly first: number; readonly last: number } | undefined,
    StorageIOError | CorruptDataDir
  >
  /** Every stored entry with index >= `from`, in index order. */
  readonly readEntries: (
    from: number
  ) => Effect.Effect<ReadonlyArray<RawEntry>, StorageIOError | CorruptDataDir>
  readonly batch: () => KvBatch
  /** Delete entries `from..to` (inclusive); not atomic with anything, not synced. */
  readonly clearEntries: (from: number, to: number) => Effect.Effect<void, StorageIOError>
}

/** A file being written. */
export interface FileWriter {
  readonly append: (data: Uint8Array) => Effect.Effect<void, StorageIOError>
  /** fsync the file's data and size. */
  readonly sync: Effect.Effect<void, StorageIOError>
  /** Close it (idempotent). */
  readonly close: Effect.Effect<void>
}

/** An open file being read; keeps its data readable even if the path is removed meanwhile. */
export interface FileReader {
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, StorageIOError>
  readonly close: Effect.Effect<void>
}

export interface FileStore {
  /** The data dir itself, for error messages. */
  readonly root: string
  /** Create the data dir if needed (and make its creation durable). */
  readonly ensureRoot: Effect.Effect<void, DataDirUnwritable>
  /** Create a sub-directory if needed (durably). */
  readonly ensureDir: (dir: string) => Effect.Effect<void, StorageIOError>
  /** Names in a directory ("" is the root); empty when it does not exist. */
  readonly list: (dir: string) => Effect.Effect<ReadonlyArray<string>, StorageIOError>
  /** A whole small file, or undefined when it does not exist. */
  readonly read: (path: string) => Effect.Effect<Uint8Array | undefined, StorageIOError>
  /** Size of a file, or undefined when it does not exist. */
  readonly size: (path: string) => Effect.Effect<number | undefined, StorageIOError>
  /** Replace a small file atomically and durably (temp file, fsync, rename, fsync of the dir). */
  readonly writeAtomic: (path: string, data: Uint8Array) => Effect.Effect<void, StorageIOError>
  /** Create (or truncate) a file for writing. */
  readonly create: (path: string) => Effect.Effect<FileWriter, StorageIOError>
  /** Rename a file and fsync the target's directory. */
  readonly rename: (from: string, to: string) => Effect.Effect<void, StorageIOError>
  /** Remove a file; a missing file is fine. */
  readonly remove: (path: string) => Effect.Effect<void, StorageIOError>
  /** Open a file for reading, or undefined when it does not exist. */
  readonly open: (path: string) => Effect.Effect<FileReader | undefined, StorageIOError>
}

/** Opens the key-value part of a data dir (closed when the scope closes). */
export type OpenKv = Effect.Effect<KvStore, StorageIOError | CorruptDataDir | DataDirUnwritable, Scope.Scope>
