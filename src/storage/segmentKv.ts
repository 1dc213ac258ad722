/**
 * `KvStore` as an append-only log of write batches in segment files (`<location>/<seq>.seg`, 16
 * digits), written with synchronous `write` + `fdatasync` on the calling thread.
 *
 * Why not LevelDB: classic-level runs every write on libuv's thread pool, so each synced batch
 * costs two thread hand-offs (out to a worker, back through the event loop), and LevelDB adds a
 * memtable and compactions for data that is only ever appended, read back once at start-up and
 * dropped by prefix. On the 2-core bench machine the hand-offs cost more than the fsync itself.
 * Blocking the event loop for the write is what the node's loop does anyway: nothing that depends
 * on a batch may leave before it is durable, and the next batch waits for this one.
 *
 * - Each batch is one frame (`segmentFrame.ts`), written with one call and fsynced, so a batch is
 *   atomic: after a crash only the last segment can end in a torn frame, which the next open cuts
 *   off (it was never acknowledged). A bad frame anywhere else, or one followed by good frames, is
 *   damage to acknowledged data and is reported as corruption.
 * - The current segment is replaced by a new one once it passes `segmentBytes`, and by a new one
 *   after every open. A new segment begins with every meta record, so older segments are needed
 *   only for their entries: a segment is deleted once every entry it holds is at or below the
 *   compaction point (`clearEntries`), oldest first.
 * - Compaction is recorded as a clear-entries op, so a replay never returns compacted entries.
 * - Only metas are kept in memory (for the next segment's header). The open-time reads
 *   (`entryBounds`, `readEntries`, `isEmpty`) use the open's replay until the first write, and
 *   replay the segments again after it.
 */
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { Effect } from "effect"
import type { KvBatch, KvStore, OpenKv, RawEntry } from "./backend.ts"
import type { MetaName } from "./codec.ts"
import { lockDir } from "./dirLock.ts"
import { CorruptDataDir, errorCode, errorDetail, StorageIOError } from "./errors.ts"
import { Writer } from "../transport/wire.ts"
import { encodeFrame, FRAME_HEADER_BYTES, readFrame, type SegmentOp } from "./segmentFrame.ts"

/** Default size at which the current segment is replaced by a new one. */
export const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024

const LOCK_FILE = "segments.lock"
const SEGMENT_NAME = /^(\d{16})\.seg$/
/** Files that only a LevelDB store (`--log-store leveldb`) has. */
const LEVELDB_MARKERS = ["CURRENT", "LOCK"]

const segmentName = (seq: number): string => `${String(seq).padStart(16, "0")}.seg`

/** A segment on disk: its sequence number and the highest entry index it puts (0 if none). */
interface Segment {
  readonly seq: number
  maxPut: number
}

/** What replaying every segment yields. */
interface Replayed {
  readonly metas: Map<MetaName, Uint8Array>
  readonly entries: Map<number, Uint8Array>
  readonly frames: number
}

/**
 * Whether valid frames follow a bad one: a chain of whole frames from some offset after `from` to
 * exactly the end. A torn write is the last thing in its segment (each write is fsynced before the
 * next begins), so a bad frame followed by such a chain is damage to data already acknowledged.
 */
const validFramesAfter = (bytes: Uint8Array, from: number): boolean => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // Follow the length fields first (cheap); only a chain that lands exactly on the end is worth
  // its CRCs, so a long torn tail of entry data costs a scan, not a CRC per offset.
  const landsOnEnd = (p: number): boolean => {
    for (let at = p; at + FRAME_HEADER_BYTES <= bytes.length; ) {
      const length = view.getUint32(at)
      if (length === 0) return false
      at += FRAME_HEADER_BYTES + length
      if (at === bytes.length) return true
    }
    return false
  }
  const checks = (p: number): boolean => {
    for (let at = p; ; ) {
      const read = readFrame(bytes, at)
      if (read._tag !== "Frame") return false
      at = read.end
      if (at === bytes.length) return true
    }
  }
  for (let p = from + 1; p + FRAME_HEADER_BYTES < bytes.length; p++) {
    if (landsOnEnd(p) && checks(p)) return true
  }
  return false
}

/**
 * Open (creating if missing) the segment store in `location`; `dataDir` names the data dir in
 * errors. Holds `location`'s lock until the scope closes.
 */
export const openSegmentKv = (
  dataDir: string,
  location: string,
  segmentBytes = DEFAULT_SEGMENT_BYTES
): OpenKv => {
  const ioError = (operation: string, path: string) => (e: unknown) =>
    new StorageIOError({ operation, path, code: errorCode(e), detail: errorDetail(e) })
  const attempt = <A>(operation: string, path: string, run: () => A) =>
    Effect.try({ try: run, catch: ioError(operation, path) })
  const corrupt = (where: string, reason: string) =>
    new CorruptDataDir({ dataDir, location: `${location}/${where}`, reason })
  const pathOf = (seq: number) => nodePath.join(location, segmentName(seq))

  const listSegments = (): Array<Segment> | CorruptDataDir => {
    const names = fs.readdirSync(location)
    if (LEVELDB_MARKERS.every((m) => names.includes(m))) {
      return corrupt(
        "CURRENT",
        "this log store is LevelDB (written with --log-store leveldb); start the node with that option"
      )
    }
    const segments: Array<Segment> = []
    for (const name of names) {
      const m = SEGMENT_NAME.exec(name)
      if (m !== null) segments.push({ seq: Number(m[1]), maxPut: 0 })
    }
    return segments.sort((a, b) => a.seq - b.seq)
  }

  /**
   * Replay `segments` in order. With `repair`, a torn frame at the end of the last segment is cut
   * off (truncate + fsync); without, it is skipped. Every other bad frame is corruption.
   */
  const replay = (segments: ReadonlyArray<Segment>, repair: boolean): Replayed | CorruptDataDir => {
    const metas = new Map<MetaName, Uint8Array>()
    const entries = new Map<number, Uint8Array>()
    let frames = 0
    for (let s = 0; s < segments.length; s++) {
      const segment = segments[s]!
      const path = pathOf(segment.seq)
      const bytes = fs.readFileSync(path)
      const last = s === segments.length - 1
      let offset = 0
      while (offset < bytes.length) {
        const read = readFrame(bytes, offset)
        if (read._tag !== "Frame") {
          // Torn: the last write never completed; whatever it left is not followed by good frames.
          if (!(last && !validFramesAfter(bytes, offset))) {
            const why = read._tag === "Bad" ? read.reason : "a frame cut short"
            return corrupt(segmentName(segment.seq), `bad frame at byte ${offset}: ${why}`)
          }
          if (repair) cutTail(path, offset)
          break
        }
        frames++
        for (const op of read.ops) {
          switch (op._tag) {
            case "PutEntry":
              entries.set(op.index, op.value)
              if (op.index > segment.maxPut) segment.maxPut = op.index
              break
            case "DelEntry":
              entries.delete(op.index)
              break
            case "PutMeta":
              metas.set(op.name, op.value)
              break
            case "ClearEntries":
              for (const index of entries.keys())
                if (index >= op.from && index <= op.to) entries.delete(index)
              break
          }
        }
        offset = read.end
      }
    }
    return { metas, entries, frames }
  }

  const open = Effect.gen(function* () {
    yield* attempt("create", location, () => {
      if (fs.mkdirSync(location, { recursive: true }) !== undefined) syncDir(nodePath.dirname(location))
    })
    const release = yield* attempt("lock", location, () => lockDir(nodePath.join(location, LOCK_FILE)))
    const opened = yield* Effect.suspend(() => {
      const segments = listSegments()
      if (segments instanceof CorruptDataDir) return Effect.fail(segments)
      const replayed = replay(segments, true)
      if (replayed instanceof CorruptDataDir) return Effect.fail(replayed)
      // A segment cut to nothing was a roll that never completed: it lacks the metas header that
      // lets older segments go, so it goes instead.
      const last = segments.at(-1)
      if (last !== undefined && fs.statSync(pathOf(last.seq)).size === 0) {
        fs.rmSync(pathOf(last.seq))
        segments.pop()
      }
      return Effect.succeed({ segments, metas: replayed.metas, replayed })
    }).pipe(
      Effect.catchDefect((e) => Effect.fail(ioError("read", location)(e))),
      Effect.onError(() => Effect.sync(release))
    )
    return { ...opened, release }
  })

  const make = (state: {
    readonly segments: Array<Segment>
    readonly metas: Map<MetaName, Uint8Array>
    readonly replayed: Replayed
    readonly release: () => void
  }) => {
    const { segments, metas } = state
    // The segment being appended to; none until the first write after the open.
    let fd: number | undefined
    let size = 0
    // Frames are written synchronously: one buffer, reused, instead of one per write.
    const scratch = new Writer(64 * 1024)
    let clearedThrough = 0
    // Set when a write failed in a way that leaves the file's state unknown (a failed fsync).
    let broken: string | undefined

    // The open's replay serves the open-time reads until the first write changes the store.
    let sinceOpen: Replayed | undefined = state.replayed

    /** Replay for the open-time reads (read-only: the open already repaired the tail). */
    const scan = Effect.suspend(() => {
      const replayed = sinceOpen ?? replay(segments, false)
      return replayed instanceof CorruptDataDir ? Effect.fail(replayed) : Effect.succeed(replayed)
    }).pipe(Effect.catchDefect((e) => Effect.fail(ioError("read", location)(e))))

    /** Start a new segment holding `frame`'s ops after every meta; fsyncs it and the directory. */
    const roll = (ops: ReadonlyArray<SegmentOp>): void => {
      // Unsynced records (compaction) must be durable before their segment stops being the last:
      // only the last segment may end torn.
      if (fd !== undefined) fs.fdatasyncSync(fd)
      else if (segments.length > 0) syncFile(pathOf(segments.at(-1)!.seq))
      const seq = (segments.at(-1)?.seq ?? 0) + 1
      const header: Array<SegmentOp> = []
      for (const [name, value] of metas) header.push({ _tag: "PutMeta", name, value })
      const frame = encodeFrame(header.concat(ops), scratch)
      const path = pathOf(seq)
      const next = fs.openSync(path, "wx")
      try {
        writeAll(next, frame, 0)
        fs.fdatasyncSync(next)
        syncDir(location)
      } catch (e) {
        fs.closeSync(next)
        fs.rmSync(path, { force: true })
        throw e
      }
      if (fd !== undefined) fs.closeSync(fd)
      fd = next
      size = frame.length
      segments.push({ seq, maxPut: 0 })
    }

    const append = (ops: ReadonlyArray<SegmentOp>, sync: boolean): void => {
      sinceOpen = undefined
      if (broken !== undefined) throw new Error(`the log store failed earlier and is closed: ${broken}`)
      if (fd === undefined || size >= segmentBytes) {
        roll(ops)
      } else {
        const frame = encodeFrame(ops, scratch)
        try {
          writeAll(fd, frame, size)
        } catch (e) {
          // Cut the partial frame off so later frames do not follow garbage.
          try {
            fs.ftruncateSync(fd, size)
          } catch {
            broken = errorDetail(e)
          }
          throw e
        }
        size += frame.length
        if (sync) {
          try {
            fs.fdatasyncSync(fd)
          } catch (e) {
            // After a failed fsync the page cache may have dropped the data: stop writing.
            broken = errorDetail(e)
            throw e
          }
        }
      }
      const current = segments.at(-1)!
      for (const op of ops) {
        if (op._tag === "PutMeta") metas.set(op.name, op.value)
        else if (op._tag === "PutEntry" && op.index > current.maxPut) current.maxPut = op.index
      }
    }

    /** Delete the oldest segments whose entries are all compacted away (never the current one). */
    const retire = (): void => {
      while (segments.length > 1 && segments[0]!.maxPut <= clearedThrough) {
        fs.rmSync(pathOf(segments[0]!.seq), { force: true })
        segments.shift()
      }
    }

    const store: KvStore = {
      location,
      getMeta: (name: MetaName) => Effect.sync(() => metas.get(name)),
      isEmpty: Effect.map(scan, (r) => r.frames === 0),
      entryBounds: Effect.map(scan, ({ entries }) => {
        if (entries.size === 0) return undefined
        let first = Number.POSITIVE_INFINITY
        let last = 0
        for (const index of entries.keys()) {
          if (index < first) first = index
          if (index > last) last = index
        }
        return { first, last }
      }),
      readEntries: (from) =>
        Effect.map(scan, ({ entries }) => {
          const out: Array<RawEntry> = []
          for (const [index, value] of entries) if (index >= from) out.push({ index, value })
          return out.sort((a, b) => a.index - b.index)
        }),
      batch: (): KvBatch => {
        const ops: Array<SegmentOp> = []
        return {
          putEntry: (index, value) => {
            ops.push({ _tag: "PutEntry", index, value })
          },
          delEntry: (index) => {
            ops.push({ _tag: "DelEntry", index })
          },
          putMeta: (name, value) => {
            ops.push({ _tag: "PutMeta", name, value })
          },
          size: () => ops.length,
          write: (sync) => attempt(sync ? "synced write" : "write", location, () => append(ops, sync))
        }
      },
      // Recorded (not synced, like LevelDB's delete) so a replay agrees with the store's view; the
      // space comes back when whole segments retire.
      clearEntries: (from, to) =>
        attempt("compact", location, () => {
          append([{ _tag: "ClearEntries", from, to }], false)
          if (to > clearedThrough) clearedThrough = to
          retire()
        })
    }
    const close = Effect.sync(() => {
      if (fd !== undefined) fs.closeSync(fd)
      fd = undefined
      state.release()
    })
    return { store, close }
  }

  return Effect.map(
    Effect.acquireRelease(Effect.map(open, make), ({ close }) => close),
    ({ store }) => store
  )
}

/** Write all of `bytes` at offset `at` (positioned: a cut-off failed write leaves no gap). */
const writeAll = (fd: number, bytes: Uint8Array, at: number): void => {
  let done = 0
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done)
}

/** Open `path`, run `f` on its descriptor, close it. */
const withFd = (path: string, flags: string, f: (fd: number) => void): void => {
  const fd = fs.openSync(path, flags)
  try {
    f(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Cut a torn tail off a segment, durably. */
const cutTail = (path: string, at: number): void =>
  withFd(path, "r+", (fd) => {
    fs.ftruncateSync(fd, at)
    fs.fsyncSync(fd)
  })

/** fsync a file by path. */
const syncFile = (path: string): void => withFd(path, "r", fs.fdatasyncSync)

/** fsync a directory, so a file created or removed in it stays so after a crash. */
const syncDir = (dir: string): void => withFd(dir, "r", fs.fsyncSync)
