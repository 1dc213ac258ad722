/**
 * `KvStore` over classic-level (LevelDB). Keys and values are raw bytes (`view` encoding); a batch
 * is one `db.batch(ops, { sync })` call, which LevelDB applies atomically (and fsyncs when synced).
 */
import { readdir } from "node:fs/promises"
import { ClassicLevel } from "classic-level"
import { Effect } from "effect"
import type { KvBatch, KvStore, OpenKv, RawEntry } from "./backend.ts"
import { ENTRY_PREFIX, entryKey, entryKeyIndex, keyHex, type MetaName, metaKey } from "./codec.ts"
import { CorruptDataDir, DataDirUnwritable, errorCode, errorDetail, StorageIOError } from "./errors.ts"

type Db = ClassicLevel<Uint8Array, Uint8Array>
type Op =
  | { readonly type: "put"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "del"; readonly key: Uint8Array }

const ENTRIES_START = new Uint8Array([ENTRY_PREFIX])
const ENTRIES_END = new Uint8Array([ENTRY_PREFIX + 1])
const READ_BATCH = 1024
const unwritableCodes = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR"])

/**
 * Open (creating if missing) the LevelDB store in `location`; `dataDir` names the data dir in
 * errors. Closed when the scope closes.
 */
/**
 * `writeBufferBytes` bounds LevelDB's memtable and so its write-ahead log file: entries deleted by
 * compaction only leave the disk once the memtable is flushed and merged, so this (with the
 * snapshot threshold) is what bounds the log's footprint on disk. LevelDB's default is 4 MiB.
 */
export const openLevelKv = (
  dataDir: string,
  location: string,
  writeBufferBytes = 4 * 1024 * 1024
): OpenKv => {
  const fail = (operation: string) => (e: unknown) => {
    const code = errorCode(e)
    if (code === "LEVEL_CORRUPTION") {
      return new CorruptDataDir({
        dataDir,
        location,
        reason: `LevelDB reports corruption: ${errorDetail(e)}`
      })
    }
    return new StorageIOError({ operation, path: location, code, detail: errorDetail(e) })
  }
  const tryLevel = <A>(operation: string, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: fail(operation) })
  const writeError = (operation: string) => (e: unknown) =>
    new StorageIOError({ operation, path: location, code: errorCode(e), detail: errorDetail(e) })

  const open = Effect.tryPromise({
    try: async () => {
      const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(location, {
        keyEncoding: "view",
        valueEncoding: "view",
        writeBufferSize: writeBufferBytes
      })
      await db.open()
      return db
    },
    catch: (e) => {
      const code = errorCode(e)
      return unwritableCodes.has(code)
        ? new DataDirUnwritable({ dataDir, code, detail: errorDetail(e) })
        : fail("open")(e)
    }
  })

  // LevelDB would create its files next to the segment engine's and spoil the dir for both.
  const refuseSegments = Effect.flatMap(
    Effect.promise(() => readdir(location).catch(() => [] as Array<string>)),
    (names) =>
      names.some((n) => n.endsWith(".seg"))
        ? Effect.fail(
            new CorruptDataDir({
              dataDir,
              location,
              reason:
                "this log store is segment files (the default engine); start the node without --log-store leveldb"
            })
          )
        : Effect.void
  )

  const keyAt = (key: Uint8Array): Effect.Effect<number, CorruptDataDir> => {
    const index = entryKeyIndex(key)
    return index === undefined
      ? Effect.fail(
          new CorruptDataDir({
            dataDir,
            location: `${location}: key ${keyHex(key)}`,
            reason: "malformed log entry key"
          })
        )
      : Effect.succeed(index)
  }

  const make = (db: Db): KvStore => ({
    location,
    getMeta: (name: MetaName) => tryLevel(`read ${name}`, () => db.get(metaKey(name))),
    isEmpty: tryLevel("scan", () => db.keys({ limit: 1 }).all()).pipe(
      Effect.map((keys) => keys.length === 0)
    ),
    entryBounds: Effect.gen(function* () {
      const [lo] = yield* tryLevel("scan", () =>
        db.keys({ gte: ENTRIES_START, lt: ENTRIES_END, limit: 1 }).all()
      )
      const [hi] = yield* tryLevel("scan", () =>
        db.keys({ gte: ENTRIES_START, lt: ENTRIES_END, limit: 1, reverse: true }).all()
      )
      if (lo === undefined || hi === undefined) return undefined
      return { first: yield* keyAt(lo), last: yield* keyAt(hi) }
    }),
    readEntries: (from) =>
      Effect.acquireUseRelease(
        Effect.sync(() => db.iterator({ gte: entryKey(from), lt: ENTRIES_END })),
        (it) =>
          Effect.gen(function* () {
            const out: Array<RawEntry> = []
            for (;;) {
              const page = yield* tryLevel("read log", () => it.nextv(READ_BATCH))
              if (page.length === 0) return out
              for (const [key, value] of page) out.push({ index: yield* keyAt(key), value })
            }
          }),
        (it) => Effect.ignore(tryLevel("close iterator", () => it.close()))
      ),
    batch: (): KvBatch => {
      const ops: Array<Op> = []
      return {
        putEntry: (index, value) => {
          ops.push({ type: "put", key: entryKey(index), value })
        },
        delEntry: (index) => {
          ops.push({ type: "del", key: entryKey(index) })
        },
        putMeta: (name, value) => {
          ops.push({ type: "put", key: metaKey(name), value })
        },
        size: () => ops.length,
        write: (sync) =>
          Effect.tryPromise({
            try: () => db.batch(ops, { sync }),
            catch: writeError(sync ? "synced write" : "write")
          })
      }
    },
    clearEntries: (from, to) =>
      Effect.tryPromise({
        try: () => db.clear({ gte: entryKey(from), lte: entryKey(to) }),
        catch: writeError("compact")
      })
  })

  return Effect.map(
    Effect.acquireRelease(Effect.andThen(refuseSegments, open), (db) =>
      Effect.ignore(tryLevel("close", () => db.close()))
    ),
    make
  )
}
