/**
 * The Raft storage rules, written once over the `KvStore` / `FileStore` primitives (`backend.ts`)
 * so the LevelDB and memory layers cannot drift apart.
 *
 * Data dir layout: `IDENTITY` (JSON cluster id + node id, checked before anything else is
 * opened), `log/` (the key-value store: meta records and entries, see `codec.ts`), `snapshots/`
 * (`snap-<index>-<term>-<nonce>.snap` files plus `*.tmp` files being written).
 *
 * The last stored index is tracked in memory (derived at open) so a suffix delete costs one
 * delete per removed entry and never a scan. LevelDB has no range delete inside a batch, so the
 * removed indices are deleted key by key within the same atomic batch.
 */
import { Effect, Result, Semaphore, Stream } from "effect"
import type { Scope } from "effect"
import type { Restored } from "../core/raft.ts"
import type { HardState, Persist, PersistSnapshotChunk, SnapshotMeta } from "../core/types.ts"
import type { FileStore, FileWriter, KvBatch, KvStore, OpenKv } from "./backend.ts"
import {
  checkFormat,
  decodeEntry,
  decodeHardState,
  decodeIdentity,
  decodeSnapshotRecord,
  encodeEntry,
  encodeFormat,
  encodeHardState,
  encodeIdentity,
  encodeSnapshotRecord,
  entryKey,
  type Identity,
  keyHex,
  type SnapshotRecord
} from "./codec.ts"
import type { OpenError, StorageIOError } from "./errors.ts"
import { CorruptDataDir, DataDirMismatch, DataDirUnwritable, SnapshotNotFound } from "./errors.ts"
import type { DurableWrite, LogStoreShape, SnapshotSource, SnapshotTarget } from "./LogStore.ts"

export const IDENTITY_FILE = "IDENTITY"
export const LOG_DIR = "log"
export const SNAPSHOT_DIR = "snapshots"
const READ_CHUNK = 256 * 1024

const snapshotPath = (file: string): string => `${SNAPSHOT_DIR}/${file}`
const toMeta = (r: SnapshotRecord): SnapshotMeta => ({ index: r.index, term: r.term, size: r.size })
const sameIdentity = (a: Identity, b: Identity): boolean =>
  a.clusterId === b.clusterId && a.nodeId === b.nodeId
const showIdentity = (i: Identity): string => `cluster "${i.clusterId}" node ${i.nodeId}`

/** Write failures that mean "this data dir cannot be written at all". */
const unwritableCodes = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR"])

/** A snapshot being received from the leader. */
interface Incoming {
  readonly meta: SnapshotMeta
  readonly path: string
  readonly writer: FileWriter
  written: number
  dirty: boolean
}

export interface Backends {
  readonly files: FileStore
  readonly openKv: OpenKv
}

/**
 * Open (or initialise) a data dir for `identity` and return the store. The key-value store and
 * any incoming snapshot file are closed when the scope closes.
 */
export const openStore = (
  identity: Identity,
  backends: Backends
): Effect.Effect<LogStoreShape, OpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const { files } = backends
    const root = files.root
    const corrupt = (location: string, reason: string) =>
      new CorruptDataDir({ dataDir: root, location, reason })

    yield* files.ensureRoot
    const present = (yield* files.list("")).filter((n) => !n.endsWith(".tmp"))

    // 1. Identity, before anything is opened: a mismatch must leave the dir untouched.
    const idFile = yield* files.read(IDENTITY_FILE)
    if (idFile !== undefined) {
      const found = decodeIdentity(idFile)
      if (Result.isFailure(found)) {
        return yield* corrupt(`${root}/${IDENTITY_FILE}`, `unreadable identity record: ${found.failure}`)
      }
      if (!sameIdentity(found.success, identity)) {
        return yield* new DataDirMismatch({
          dataDir: root,
          expectedClusterId: identity.clusterId,
          expectedNodeId: identity.nodeId,
          foundClusterId: found.success.clusterId,
          foundNodeId: found.success.nodeId
        })
      }
      if (!present.includes(LOG_DIR)) {
        return yield* corrupt(`${root}/${LOG_DIR}`, "missing, though IDENTITY shows the dir was initialised")
      }
    } else {
      // Fresh, or a crash during initialisation (log/ is created before IDENTITY).
      const foreign = present.filter((n) => n !== LOG_DIR && n !== SNAPSHOT_DIR)
      if (foreign.length > 0) {
        return yield* corrupt(
          `${root}/${IDENTITY_FILE}`,
          `missing, yet the directory holds ${foreign.join(", ")}: not a raftkv data dir (or a damaged one)`
        )
      }
    }

    // 2. The key-value store: format, identity, hard state, snapshot record.
    const kv = yield* backends.openKv
    const at = (what: string) => `${kv.location}: ${what}`
    const format = yield* kv.getMeta("format")
    if (format === undefined) {
      if (!(yield* kv.isEmpty)) return yield* corrupt(at(`key "format"`), "missing, but the store holds data")
      if (idFile !== undefined) {
        return yield* corrupt(
          at("store"),
          "empty, though IDENTITY shows the dir was initialised: refusing to start without the term, vote and log"
        )
      }
      const init = kv.batch()
      init.putMeta("format", encodeFormat())
      init.putMeta("identity", encodeIdentity(identity))
      init.putMeta("hardState", encodeHardState({ term: 0, vote: 0 }))
      yield* init.write(true)
    } else {
      const why = checkFormat(format)
      if (why !== undefined) return yield* corrupt(at(`key "format"`), why)
    }
    const kvIdentityBytes = yield* kv.getMeta("identity")
    if (kvIdentityBytes === undefined) return yield* corrupt(at(`key "identity"`), "missing")
    const kvIdentity = decodeIdentity(kvIdentityBytes)
    if (Result.isFailure(kvIdentity)) return yield* corrupt(at(`key "identity"`), kvIdentity.failure)
    if (!sameIdentity(kvIdentity.success, identity)) {
      if (idFile !== undefined) {
        return yield* corrupt(
          at(`key "identity"`),
          `records ${showIdentity(kvIdentity.success)} but IDENTITY records ${showIdentity(identity)}`
        )
      }
      return yield* new DataDirMismatch({
        dataDir: root,
        expectedClusterId: identity.clusterId,
        expectedNodeId: identity.nodeId,
        foundClusterId: kvIdentity.success.clusterId,
        foundNodeId: kvIdentity.success.nodeId
      })
    }
    if (idFile === undefined) yield* files.writeAtomic(IDENTITY_FILE, encodeIdentity(identity))
    yield* readHardState(kv, root)

    let current: SnapshotRecord | undefined
    const snapshotBytes = yield* kv.getMeta("snapshot")
    if (snapshotBytes !== undefined) {
      const decoded = decodeSnapshotRecord(snapshotBytes)
      if (Result.isFailure(decoded)) return yield* corrupt(at(`key "snapshot"`), decoded.failure)
      current = decoded.success
      const where = `${root}/${snapshotPath(current.file)}`
      const size = yield* files.size(snapshotPath(current.file))
      if (size === undefined) {
        return yield* corrupt(
          where,
          `missing (recorded as the snapshot at index ${current.index} term ${current.term})`
        )
      }
      if (size !== current.size) {
        return yield* corrupt(
          where,
          `holds ${size} bytes but the snapshot record says ${current.size} (truncated?)`
        )
      }
    }

    // 3. Leftovers of interrupted writes: temp files and snapshots that were never recorded or
    // were replaced (the record is written before the old file is removed).
    yield* files.ensureDir(SNAPSHOT_DIR)
    for (const name of yield* files.list(SNAPSHOT_DIR)) {
      if (name !== current?.file) yield* files.remove(`${SNAPSHOT_DIR}/${name}`)
    }
    for (const name of yield* files.list("")) {
      if (name.endsWith(".tmp")) yield* files.remove(name)
    }

    const bounds = yield* kv.entryBounds
    const base = current?.index ?? 0
    // Entries at or below the snapshot may linger (compaction is not synced); the log the core sees
    // ends no earlier than the snapshot, and `first` stays at the lowest stored key so deletes reach it.
    const state: LogState =
      bounds === undefined
        ? { first: base + 1, last: base }
        : { first: bounds.first, last: Math.max(bounds.last, base) }
    const { shape, release } = makeShape(identity, kv, files, state, current)
    yield* Effect.addFinalizer(() => release)
    return shape
  }).pipe(
    Effect.mapError(
      (e): OpenError =>
        e._tag === "StorageIOError" && unwritableCodes.has(e.code)
          ? new DataDirUnwritable({
              dataDir: backends.files.root,
              code: e.code,
              detail: `${e.operation} ${e.path}: ${e.detail}`
            })
          : e
    )
  )

const readHardState = (
  kv: KvStore,
  root: string
): Effect.Effect<HardState, CorruptDataDir | StorageIOError> =>
  Effect.flatMap(kv.getMeta("hardState"), (bytes) => {
    const location = `${kv.location}: key "hardState"`
    if (bytes === undefined)
      return Effect.fail(new CorruptDataDir({ dataDir: root, location, reason: "missing" }))
    const decoded = decodeHardState(bytes)
    return Result.isFailure(decoded)
      ? Effect.fail(new CorruptDataDir({ dataDir: root, location, reason: decoded.failure }))
      : Effect.succeed(decoded.success)
  })

/** Which entry indices may be stored: `first..last`; empty when `last < first`. */
interface LogState {
  first: number
  last: number
}

let nonceCounter = 0
const nonce = (): string => `${Date.now().toString(36)}-${(nonceCounter++).toString(36)}`

const makeShape = (
  identity: Identity,
  kv: KvStore,
  files: FileStore,
  log: LogState,
  initialSnapshot: SnapshotRecord | undefined
): { readonly shape: LogStoreShape; readonly release: Effect.Effect<void> } => {
  const root = files.root
  // Serialises write batches and snapshot-record changes so they land in call order.
  const mutex = Semaphore.makeUnsafe(1)
  let current = initialSnapshot
  let incoming: Incoming | undefined

  const load: LogStoreShape["load"] = Effect.gen(function* () {
    const hardState = yield* readHardState(kv, root)
    const snapshot = current
    const base = snapshot?.index ?? 0
    const raw = yield* kv.readEntries(base + 1)
    const entries = new Array<Restored["entries"][number]>(raw.length)
    let expected = base + 1
    for (let k = 0; k < raw.length; k++) {
      const r = raw[k]!
      if (r.index !== expected) {
        const reason =
          k === 0
            ? `the log after the snapshot (index ${base}) starts at ${r.index}: entries ${expected}..${r.index - 1} are missing`
            : `entries ${expected}..${r.index - 1} are missing (the log jumps from ${expected - 1} to ${r.index})`
        return yield* new CorruptDataDir({
          dataDir: root,
          location: `${kv.location}: entry ${expected}`,
          reason
        })
      }
      const entry = decodeEntry(r.value)
      if (typeof entry === "string") {
        return yield* new CorruptDataDir({
          dataDir: root,
          location: `${kv.location}: key ${keyHex(entryKey(r.index))} (entry ${r.index})`,
          reason: entry
        })
      }
      entries[k] = entry
      expected++
    }
    return { hardState, snapshot: snapshot === undefined ? undefined : toMeta(snapshot), entries }
  })

  /** Add one Persist to the batch; a string is a broken core invariant. */
  const addPersist = (batch: KvBatch, p: Persist): string | undefined => {
    if (p.hardState !== undefined) batch.putMeta("hardState", encodeHardState(p.hardState))
    const l = p.log
    if (l === undefined) return undefined
    const { from, entries } = l
    const n = entries.length
    if (n === 0 && from > log.last) return undefined // truncating beyond the end: nothing to do
    if (from < log.first || from > log.last + 1) {
      return `write ${p.writeId}: log write at ${from} outside the stored log ${log.first}..${log.last} (+1)`
    }
    // Entries overwritten by the puts need no delete; only the suffix beyond them does.
    for (let i = Math.max(from + n, log.first); i <= log.last; i++) batch.delEntry(i)
    for (let k = 0; k < n; k++) batch.putEntry(from + k, encodeEntry(entries[k]!))
    log.last = from + n - 1
    return undefined
  }

  /** The log once a snapshot through `index` is installed. */
  const replaceLog = (batch: KvBatch, index: number, keepLog: boolean): void => {
    const to = keepLog ? Math.min(index, log.last) : log.last
    for (let i = log.first; i <= to; i++) batch.delEntry(i)
    if (keepLog) {
      log.first = Math.max(log.first, index + 1)
      if (log.last < log.first) log.last = log.first - 1
    } else {
      log.first = index + 1
      log.last = index
    }
  }

  const dropIncoming = Effect.suspend(() => {
    const inc = incoming
    incoming = undefined
    return inc === undefined
      ? Effect.void
      : Effect.andThen(inc.writer.close, Effect.ignore(files.remove(inc.path)))
  })

  /** File part of a snapshot chunk; on `done` returns the installed record (not yet recorded). */
  const addChunk = (
    batch: KvBatch,
    c: PersistSnapshotChunk
  ): Effect.Effect<SnapshotRecord | undefined, StorageIOError> =>
    Effect.gen(function* () {
      const { index, term } = c.snapshot
      if (c.offset === 0) {
        yield* dropIncoming
        const path = `${SNAPSHOT_DIR}/incoming-${index}-${term}-${nonce()}.tmp`
        incoming = { meta: c.snapshot, path, writer: yield* files.create(path), written: 0, dirty: false }
      }
      const inc = incoming
      if (
        inc === undefined ||
        inc.meta.index !== index ||
        inc.meta.term !== term ||
        inc.written !== c.offset
      ) {
        const have =
          inc === undefined ? "none" : `index ${inc.meta.index} term ${inc.meta.term}, ${inc.written} bytes`
        return yield* Effect.die(
          new Error(
            `write ${c.writeId}: snapshot chunk (index ${index} term ${term} offset ${c.offset}) ` +
              `does not continue the incoming snapshot (${have})`
          )
        )
      }
      yield* inc.writer.append(c.data)
      inc.written += c.data.length
      inc.dirty = true
      if (!c.done) return undefined
      if (inc.written !== c.snapshot.size) {
        return yield* Effect.die(
          new Error(
            `write ${c.writeId}: snapshot ${index} done at ${inc.written} bytes, meta says ${c.snapshot.size}`
          )
        )
      }
      incoming = undefined
      yield* inc.writer.sync
      yield* inc.writer.close
      const record: SnapshotRecord = {
        index,
        term,
        size: inc.written,
        file: `snap-${index}-${term}-${nonce()}.snap`
      }
      yield* files.rename(inc.path, snapshotPath(record.file))
      batch.putMeta("snapshot", encodeSnapshotRecord(record))
      replaceLog(batch, index, c.keepLog)
      return record
    }).pipe(Effect.onError(() => dropIncoming))

  /** Make `record` the node's snapshot (its meta is durable) and remove the file it replaces. */
  const adopt = (record: SnapshotRecord): Effect.Effect<void> => {
    const old = current
    current = record
    return old === undefined || old.file === record.file
      ? Effect.void
      : Effect.ignore(files.remove(snapshotPath(old.file)))
  }

  const writeLocked = (writes: ReadonlyArray<DurableWrite>): Effect.Effect<void, StorageIOError> => {
    const saved = { first: log.first, last: log.last }
    let installed: SnapshotRecord | undefined
    let committed = false
    return Effect.gen(function* () {
      const batch = kv.batch()
      for (const w of writes) {
        if (w._tag === "Persist") {
          const broken = addPersist(batch, w)
          if (broken !== undefined) return yield* Effect.die(new Error(broken))
        } else {
          installed = (yield* addChunk(batch, w)) ?? installed
        }
      }
      const inc = incoming
      if (inc?.dirty === true) {
        inc.dirty = false
        yield* inc.writer.sync
      }
      if (batch.size() > 0) yield* batch.write(true)
      committed = true
      if (installed !== undefined) yield* adopt(installed)
    }).pipe(
      Effect.onError(() =>
        Effect.suspend(() => {
          if (committed) return Effect.void
          // Nothing of this group is recorded: forget the tracker changes and the unrecorded file.
          log.first = saved.first
          log.last = saved.last
          return installed === undefined
            ? Effect.void
            : Effect.ignore(files.remove(snapshotPath(installed.file)))
        })
      )
    )
  }

  /** The hot path (no snapshot chunk in the group): build the batch synchronously, write it once. */
  const writePersists = (writes: ReadonlyArray<Persist>): Effect.Effect<void, StorageIOError> =>
    Effect.suspend(() => {
      const savedFirst = log.first
      const savedLast = log.last
      const restore = () => {
        log.first = savedFirst
        log.last = savedLast
      }
      const batch = kv.batch()
      for (const w of writes) {
        const broken = addPersist(batch, w)
        if (broken !== undefined) {
          restore()
          return Effect.die(new Error(broken))
        }
      }
      if (batch.size() === 0) return Effect.void
      return Effect.onError(batch.write(true), () => Effect.sync(restore))
    })

  const onlyPersists = (writes: ReadonlyArray<DurableWrite>): writes is ReadonlyArray<Persist> => {
    for (const w of writes) if (w._tag !== "Persist") return false
    return true
  }

  const write: LogStoreShape["write"] = (writes) =>
    writes.length === 0
      ? Effect.void
      : // Uninterruptible once started: the tracker must agree with what reached the disk.
        mutex.withPermit(
          Effect.uninterruptible(
            onlyPersists(writes) ? writePersists(writes) : Effect.suspend(() => writeLocked(writes))
          )
        )

  const compact: LogStoreShape["compact"] = (upTo) =>
    Effect.flatMap(
      mutex.withPermit(
        Effect.sync(() => {
          if (upTo < log.first) return undefined
          const range = { from: log.first, to: Math.min(upTo, log.last) }
          log.first = upTo + 1
          if (log.last < log.first) log.last = log.first - 1
          return range
        })
      ),
      // Outside the lock: only committed keys <= upTo are touched, which no write rewrites.
      (range) =>
        range === undefined || range.to < range.from ? Effect.void : kv.clearEntries(range.from, range.to)
    )

  const saveSnapshot = <E>(
    target: SnapshotTarget,
    chunks: SnapshotSource<E>
  ): Effect.Effect<SnapshotMeta, StorageIOError | E> =>
    Effect.gen(function* () {
      const tmp = `${SNAPSHOT_DIR}/save-${target.index}-${target.term}-${nonce()}.tmp`
      const source: Stream.Stream<Uint8Array, E> = Stream.isStream(chunks)
        ? (chunks as Stream.Stream<Uint8Array, E>)
        : Stream.orDie(Stream.fromAsyncIterable(chunks as AsyncIterable<Uint8Array>, (e) => e))
      const size = yield* Effect.acquireUseRelease(
        files.create(tmp),
        (writer) =>
          Effect.gen(function* () {
            let written = 0
            yield* Stream.runForEach(source, (chunk) => {
              written += chunk.length
              return writer.append(chunk)
            })
            yield* writer.sync
            return written
          }),
        (writer) => writer.close
      ).pipe(Effect.onError(() => Effect.ignore(files.remove(tmp))))
      const record: SnapshotRecord = {
        index: target.index,
        term: target.term,
        size,
        file: `snap-${target.index}-${target.term}-${nonce()}.snap`
      }
      yield* files
        .rename(tmp, snapshotPath(record.file))
        .pipe(Effect.onError(() => Effect.ignore(files.remove(tmp))))
      return yield* mutex.withPermit(
        Effect.gen(function* () {
          const latest = current
          if (latest !== undefined && latest.index > record.index) {
            yield* Effect.ignore(files.remove(snapshotPath(record.file)))
            return toMeta(latest)
          }
          const batch = kv.batch()
          batch.putMeta("snapshot", encodeSnapshotRecord(record))
          yield* batch
            .write(true)
            .pipe(Effect.onError(() => Effect.ignore(files.remove(snapshotPath(record.file)))))
          yield* adopt(record)
          return toMeta(record)
        })
      )
    })

  /** The stored file of snapshot `meta`, if it is the current one. */
  const locate = (meta: SnapshotMeta): Effect.Effect<string, SnapshotNotFound> => {
    const r = current
    return r !== undefined && r.index === meta.index && r.term === meta.term && r.size === meta.size
      ? Effect.succeed(snapshotPath(r.file))
      : Effect.fail(new SnapshotNotFound({ index: meta.index, term: meta.term }))
  }

  const openReader = (meta: SnapshotMeta) =>
    Effect.flatMap(locate(meta), (path) =>
      Effect.flatMap(files.open(path), (reader) =>
        reader === undefined
          ? Effect.fail(new SnapshotNotFound({ index: meta.index, term: meta.term }))
          : Effect.succeed(reader)
      )
    )

  const readSnapshotChunk: LogStoreShape["readSnapshotChunk"] = (meta, offset, length) =>
    Effect.acquireUseRelease(
      openReader(meta),
      (reader) => {
        const n = Math.max(0, Math.min(length, reader.size - offset))
        return n === 0 ? Effect.succeed(new Uint8Array(0)) : reader.read(offset, n)
      },
      (reader) => reader.close
    )

  const openSnapshot: LogStoreShape["openSnapshot"] = (meta) =>
    Stream.unwrap(
      Effect.map(
        Effect.acquireRelease(openReader(meta), (reader) => reader.close),
        (reader) =>
          Stream.unfold(0, (offset) =>
            offset >= reader.size
              ? Effect.succeed(undefined)
              : Effect.map(
                  reader.read(offset, Math.min(READ_CHUNK, reader.size - offset)),
                  (chunk) => [chunk, offset + chunk.length] as const
                )
          )
      )
    )

  const shape: LogStoreShape = {
    identity,
    load,
    write,
    writeSnapshotChunk: (chunk) => write([chunk]),
    compact,
    saveSnapshot,
    readSnapshotChunk,
    openSnapshot
  }
  // Run when the store closes: an incoming snapshot's temp file is left for the next open to remove.
  const release = Effect.suspend(() => {
    const inc = incoming
    incoming = undefined
    return inc === undefined ? Effect.void : inc.writer.close
  })
  return { shape, release }
}
