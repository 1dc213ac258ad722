/**
 * An in-memory "disk" for the memory layer of `LogStore`: the files and the key-value store of
 * one data dir, as plain maps. A test keeps the `MemoryDisk` and opens a second store on it to
 * simulate a restart; it can also corrupt it or inject write faults.
 *
 * Everything written is immediately "durable" (there is no page cache to lose).
 */
import { Effect } from "effect"
import type { FileReader, FileStore, FileWriter, KvBatch, KvStore, OpenKv, RawEntry } from "./backend.ts"
import type { MetaName } from "./codec.ts"
import { DataDirUnwritable, StorageIOError } from "./errors.ts"

/** The memory equivalent of the LevelDB store. Values are encoded exactly as on disk. */
export interface MemoryKv {
  readonly meta: Map<string, Uint8Array>
  readonly entries: Map<number, Uint8Array>
}

export class MemoryDisk {
  /** Names the disk in error messages (`memory:<name>`). */
  readonly name: string
  /** File contents by path relative to the data dir (`IDENTITY`, `snapshots/snap-...`). */
  readonly files = new Map<string, Uint8Array>()
  /** Directories that exist (relative paths; the root is ""). */
  readonly dirs = new Set<string>()
  /** The key-value store, created by the first open (like LevelDB's createIfMissing). */
  kv: MemoryKv | undefined = undefined
  /** True while a store has the disk open: a second open fails like LevelDB's lock. */
  locked = false
  /** Fault injection: every write fails with this errno code (e.g. "ENOSPC") while set. */
  failWrites: string | undefined = undefined
  /** Fault injection: the data dir cannot be created (errno code, e.g. "EACCES"). */
  unwritable: string | undefined = undefined

  constructor(name = "disk") {
    this.name = name
  }

  get location(): string {
    return `memory:${this.name}`
  }
}

const ioError = (operation: string, path: string, code: string) =>
  new StorageIOError({ operation, path, code, detail: `${code} (simulated fault)` })

/** Fails with the injected fault, if any. */
const checkWritable = (
  disk: MemoryDisk,
  operation: string,
  path: string
): Effect.Effect<void, StorageIOError> =>
  disk.failWrites === undefined ? Effect.void : Effect.fail(ioError(operation, path, disk.failWrites))

const parentOf = (path: string): string => {
  const slash = path.lastIndexOf("/")
  return slash < 0 ? "" : path.slice(0, slash)
}

/** The files of a memory data dir. */
export const memoryFileStore = (disk: MemoryDisk): FileStore => {
  const where = (path: string) => `${disk.location}/${path}`
  const needDir = (path: string, operation: string): Effect.Effect<void, StorageIOError> =>
    disk.dirs.has(parentOf(path)) ? Effect.void : Effect.fail(ioError(operation, where(path), "ENOENT"))

  const create: FileStore["create"] = (path) =>
    Effect.gen(function* () {
      yield* needDir(path, "create")
      yield* checkWritable(disk, "create", where(path))
      let buf = new Uint8Array(1024)
      let length = 0
      disk.files.set(path, buf.subarray(0, 0))
      const writer: FileWriter = {
        append: (data) =>
          Effect.suspend(() => {
            if (disk.failWrites !== undefined)
              return Effect.fail(ioError("write", where(path), disk.failWrites))
            if (length + data.length > buf.length) {
              const bigger = new Uint8Array(Math.max(buf.length * 2, length + data.length))
              bigger.set(buf.subarray(0, length))
              buf = bigger
            }
            buf.set(data, length)
            length += data.length
            // Only while the path still names this file (not after a remove).
            if (disk.files.has(path)) disk.files.set(path, buf.subarray(0, length))
            return Effect.void
          }),
        sync: Effect.suspend(() => checkWritable(disk, "fsync", where(path))),
        close: Effect.void
      }
      return writer
    })

  return {
    root: disk.location,
    ensureRoot: Effect.suspend(() => {
      if (disk.unwritable !== undefined) {
        return Effect.fail(
          new DataDirUnwritable({
            dataDir: disk.location,
            code: disk.unwritable,
            detail: `${disk.unwritable} (simulated fault)`
          })
        )
      }
      disk.dirs.add("")
      return Effect.void
    }),
    ensureDir: (dir) =>
      Effect.suspend(() => {
        if (disk.dirs.has(dir)) return Effect.void
        return Effect.andThen(
          checkWritable(disk, "mkdir", where(dir)),
          Effect.sync(() => {
            disk.dirs.add(dir)
          })
        )
      }),
    list: (dir) =>
      Effect.sync(() => {
        const names = new Set<string>()
        const prefix = dir === "" ? "" : `${dir}/`
        for (const p of [...disk.files.keys(), ...disk.dirs]) {
          if (p === dir || !p.startsWith(prefix)) continue
          const rest = p.slice(prefix.length)
          names.add(rest.split("/")[0]!)
        }
        if (dir === "" && disk.kv !== undefined) names.add("log")
        names.delete("")
        return [...names].sort()
      }),
    read: (path) => Effect.sync(() => disk.files.get(path)),
    size: (path) => Effect.sync(() => disk.files.get(path)?.length),
    writeAtomic: (path, data) =>
      Effect.gen(function* () {
        yield* needDir(path, "write")
        yield* checkWritable(disk, "write", where(path))
        disk.files.set(path, data.slice())
      }),
    create,
    rename: (from, to) =>
      Effect.gen(function* () {
        yield* checkWritable(disk, "rename", `${where(from)} -> ${where(to)}`)
        const data = disk.files.get(from)
        if (data === undefined) return yield* ioError("rename", `${where(from)} -> ${where(to)}`, "ENOENT")
        yield* needDir(to, "rename")
        disk.files.delete(from)
        disk.files.set(to, data)
      }),
    remove: (path) =>
      Effect.andThen(
        checkWritable(disk, "remove", where(path)),
        Effect.sync(() => {
          disk.files.delete(path)
        })
      ),
    open: (path) =>
      Effect.sync((): FileReader | undefined => {
        // Capture the bytes: like an open descriptor, they stay readable after a remove.
        const data = disk.files.get(path)
        if (data === undefined) return undefined
        return {
          size: data.length,
          read: (offset, length) => Effect.sync(() => data.slice(offset, offset + length)),
          close: Effect.void
        }
      })
  }
}

/** The key-value store of a memory data dir; holds the disk's lock until the scope closes. */
export const openMemoryKv = (disk: MemoryDisk): OpenKv => {
  const location = `${disk.location}/log`
  const acquire = Effect.suspend(() => {
    if (disk.locked) {
      return Effect.fail(
        new StorageIOError({
          operation: "open",
          path: location,
          code: "LEVEL_LOCKED",
          detail: "already open"
        })
      )
    }
    if (disk.kv === undefined) {
      if (disk.failWrites !== undefined) return Effect.fail(ioError("open", location, disk.failWrites))
      disk.kv = { meta: new Map(), entries: new Map() }
    }
    disk.locked = true
    return Effect.succeed(disk.kv)
  })

  const make = (kv: MemoryKv): KvStore => ({
    location,
    getMeta: (name: MetaName) => Effect.sync(() => kv.meta.get(name)),
    isEmpty: Effect.sync(() => kv.meta.size === 0 && kv.entries.size === 0),
    entryBounds: Effect.sync(() => {
      if (kv.entries.size === 0) return undefined
      let first = Number.POSITIVE_INFINITY
      let last = 0
      for (const i of kv.entries.keys()) {
        if (i < first) first = i
        if (i > last) last = i
      }
      return { first, last }
    }),
    readEntries: (from) =>
      Effect.sync(() => {
        const out: Array<RawEntry> = []
        for (const [index, value] of kv.entries) if (index >= from) out.push({ index, value })
        return out.sort((a, b) => a.index - b.index)
      }),
    batch: (): KvBatch => {
      const ops: Array<() => void> = []
      return {
        putEntry: (index, value) => {
          ops.push(() => kv.entries.set(index, value))
        },
        delEntry: (index) => {
          ops.push(() => kv.entries.delete(index))
        },
        putMeta: (name, value) => {
          ops.push(() => kv.meta.set(name, value))
        },
        size: () => ops.length,
        write: (sync) =>
          Effect.andThen(
            checkWritable(disk, sync ? "synced write" : "write", location),
            Effect.sync(() => {
              for (const op of ops) op()
            })
          )
      }
    },
    clearEntries: (from, to) =>
      Effect.andThen(
        checkWritable(disk, "compact", location),
        Effect.sync(() => {
          for (const index of [...kv.entries.keys()])
            if (index >= from && index <= to) kv.entries.delete(index)
        })
      )
  })

  return Effect.map(
    Effect.acquireRelease(acquire, () =>
      Effect.sync(() => {
        disk.locked = false
      })
    ),
    make
  )
}
