/**
 * The LevelDB layer of `LogStore`: `<dataDir>/IDENTITY`, `<dataDir>/log/` (classic-level),
 * `<dataDir>/snapshots/`.
 */
import * as nodePath from "node:path"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import type { OpenError } from "./errors.ts"
import { fsFileStore } from "./fsFiles.ts"
import { openLevelKv } from "./levelKv.ts"
import { LogStore, type LogStoreShape } from "./LogStore.ts"
import { LOG_DIR, openStore } from "./store.ts"

export interface LevelOptions {
  readonly dataDir: string
  readonly clusterId: string
  readonly nodeId: number
  /** LevelDB write buffer (memtable) size; bounds the write-ahead log file. Default 4 MiB. */
  readonly writeBufferBytes?: number
}

/** Open (or initialise) the data dir; the store closes with the scope. */
export const makeLevelLogStore = (
  options: LevelOptions
): Effect.Effect<LogStoreShape, OpenError, Scope.Scope> =>
  Effect.suspend(() =>
    openStore(
      { clusterId: options.clusterId, nodeId: options.nodeId },
      {
        files: fsFileStore(options.dataDir),
        openKv: openLevelKv(
          options.dataDir,
          nodePath.join(options.dataDir, LOG_DIR),
          options.writeBufferBytes
        )
      }
    )
  )

/** `LogStore` on LevelDB in `options.dataDir`. */
export const layerLevel = (options: LevelOptions): Layer.Layer<LogStore, OpenError> =>
  Layer.effect(LogStore, makeLevelLogStore(options))
