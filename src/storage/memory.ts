/**
 * The memory layer of `LogStore`: the same rules as the LevelDB layer (`store.ts` is shared),
 * over a `MemoryDisk` that outlives the store, so a test can "restart" by opening it again.
 */
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import type { Identity } from "./codec.ts"
import type { OpenError } from "./errors.ts"
import { LogStore, type LogStoreShape } from "./LogStore.ts"
import { type MemoryDisk, memoryFileStore, openMemoryKv } from "./memoryDisk.ts"
import { openStore } from "./store.ts"

export { MemoryDisk } from "./memoryDisk.ts"

/** Open (or initialise) the memory data dir `disk`; the store closes with the scope. */
export const makeMemoryLogStore = (
  disk: MemoryDisk,
  identity: Identity
): Effect.Effect<LogStoreShape, OpenError, Scope.Scope> =>
  Effect.suspend(() => openStore(identity, { files: memoryFileStore(disk), openKv: openMemoryKv(disk) }))

/** `LogStore` in memory, on `disk`. */
export const layerMemory = (disk: MemoryDisk, identity: Identity): Layer.Layer<LogStore, OpenError> =>
  Layer.effect(LogStore, makeMemoryLogStore(disk, identity))
