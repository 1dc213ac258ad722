/**
 * The on-disk layers of `LogStore`: `<dataDir>/IDENTITY`, `<dataDir>/log/`, `<dataDir>/snapshots/`.
 * `log/` holds either segment files (`segmentKv.ts`, the default) or a LevelDB store
 * (`levelKv.ts`, classic-level); a data dir keeps the engine it was created with.
 */
import * as nodePath from "node:path"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import type { OpenError } from "./errors.ts"
import { fsFileStore } from "./fsFiles.ts"
import { openLevelKv } from "./levelKv.ts"
import type { LogEngine } from "./logEngine.ts"
import { LogStore, type LogStoreShape } from "./LogStore.ts"
import { openSegmentKv } from "./segmentKv.ts"
import { LOG_DIR, openStore } from "./store.ts"

export type { LogEngine } from "./logEngine.ts"

export interface DiskOptions {
  readonly dataDir: string
  readonly clusterId: string
  readonly nodeId: number
  /** Default "segments". */
  readonly engine?: LogEngine
  /**
   * Segments: the size at which a new segment file starts. LevelDB: the write buffer (memtable)
   * size, which bounds its write-ahead log file. Either way it bounds how long compacted entries
   * stay on disk. Default 4 MiB.
   */
  readonly writeBufferBytes?: number
}

/** Open (or initialise) the data dir; the store closes with the scope. */
export const makeDiskLogStore = (
  options: DiskOptions
): Effect.Effect<LogStoreShape, OpenError, Scope.Scope> =>
  Effect.suspend(() => {
    const location = nodePath.join(options.dataDir, LOG_DIR)
    return openStore(
      { clusterId: options.clusterId, nodeId: options.nodeId },
      {
        files: fsFileStore(options.dataDir),
        openKv:
          options.engine === "leveldb"
            ? openLevelKv(options.dataDir, location, options.writeBufferBytes)
            : openSegmentKv(options.dataDir, location, options.writeBufferBytes)
      }
    )
  })

/** `LogStore` on disk in `options.dataDir`. */
export const layerDisk = (options: DiskOptions): Layer.Layer<LogStore, OpenError> =>
  Layer.effect(LogStore, makeDiskLogStore(options))
