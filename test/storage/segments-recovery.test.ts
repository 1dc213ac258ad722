/**
 * Crash recovery and file management of the segment log store (`segmentKv.ts`), beyond the generic
 * LogStore contract (segments.test.ts): torn tails, corruption, segment rolling and retirement, the
 * lock file and the engine marker. Files are tampered with through node:fs while the store is
 * closed, as a crash or a bad disk would leave them. Failures that only a full disk or a failing
 * device produce are injected by swapping node:fs functions (the module's live exports).
 */
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import * as nodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { Scope } from "effect"
import type { Entry, HardState, Persist } from "../../src/core/types.ts"
import type { KvStore } from "../../src/storage/backend.ts"
import { encodeEntry } from "../../src/storage/codec.ts"
import { type DiskOptions, makeDiskLogStore } from "../../src/storage/disk.ts"
import type { LogStoreShape } from "../../src/storage/LogStore.ts"
import { encodeFrame, FRAME_HEADER_BYTES, readFrame } from "../../src/storage/segmentFrame.ts"
import { openSegmentKv } from "../../src/storage/segmentKv.ts"
import { tempDir } from "./fsHarness.ts"

const ID = { clusterId: "alpha", nodeId: 1 }
const text = new TextEncoder()
const untext = new TextDecoder()
const SEGMENT = /^\d{16}\.seg$/

// ---------------------------------------------------------------------------------------------
// Writes and reads through the LogStore API

const entry = (term: number, data: string): Entry => ({ term, kind: "command", data: text.encode(data) })
/** Entries `from..to` with data "e<i>" (plus `pad` filler characters). */
const numbered = (from: number, to: number, term = 1, pad = 0): Array<Entry> => {
  const out: Array<Entry> = []
  for (let i = from; i <= to; i++) out.push(entry(term, `e${i}${"x".repeat(pad)}`))
  return out
}
const persist = (
  writeId: number,
  from: number,
  entries: ReadonlyArray<Entry>,
  hardState?: HardState
): Persist => ({ _tag: "Persist", writeId, hardState, log: { from, entries } })
const show = (entries: ReadonlyArray<Entry>): Array<string> =>
  entries.map((e) => `${e.term}:${untext.decode(e.data)}`)

/** A fresh data dir path (not created yet), removed with the scope. */
const fresh = Effect.map(tempDir, (dir) => nodePath.join(dir, "data"))

/** Run `f` on the disk store of `dataDir`, closing it afterwards (one "process" lifetime). */
const withStore = <A, E>(
  dataDir: string,
  f: (store: LogStoreShape) => Effect.Effect<A, E, Scope.Scope>,
  options: Partial<DiskOptions> = {}
) => Effect.scoped(Effect.flatMap(makeDiskLogStore({ dataDir, ...ID, ...options }), f))

const loadOf = (dataDir: string, options: Partial<DiskOptions> = {}) =>
  withStore(dataDir, (s) => s.load, options)

/** Run `f` on the segment store of `dataDir` opened directly (outside the Raft storage rules). */
const withKv = <A, E>(dataDir: string, f: (kv: KvStore) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(openSegmentKv(dataDir, logDir(dataDir)), f))

// ---------------------------------------------------------------------------------------------
// Raw files

const logDir = (dataDir: string): string => nodePath.join(dataDir, "log")
const segPath = (dataDir: string, name: string): string => nodePath.join(logDir(dataDir), name)
const segName = (seq: number): string => `${String(seq).padStart(16, "0")}.seg`

/** Segment file names, oldest first. */
const segments = (dataDir: string): Array<string> =>
  fs
    .readdirSync(logDir(dataDir))
    .filter((n) => SEGMENT.test(n))
    .sort()
const lastSegment = (dataDir: string): string => {
  const names = segments(dataDir)
  const last = names.at(-1)
  if (last === undefined) throw new Error(`no segment in ${logDir(dataDir)}`)
  return segPath(dataDir, last)
}

/** Names and contents of every file in `log/` (the directory's own mtime left out: the lock
 * file's creation and removal changes it). */
const logFiles = (dataDir: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (const name of fs.readdirSync(logDir(dataDir)).sort()) {
    out.set(name, fs.readFileSync(nodePath.join(logDir(dataDir), name)).toString("hex"))
  }
  return out
}

/** Where each whole frame of a segment starts and ends; throws on a bad one. */
const frameSpans = (bytes: Uint8Array): Array<{ start: number; end: number }> => {
  const spans: Array<{ start: number; end: number }> = []
  let at = 0
  while (at < bytes.length) {
    const read = readFrame(bytes, at)
    if (read._tag !== "Frame") throw new Error(`no whole frame at byte ${at}: ${read._tag}`)
    spans.push({ start: at, end: read.end })
    at = read.end
  }
  return spans
}

/** The highest entry index a segment file puts (0 if none). */
const maxPut = (path: string): number => {
  const bytes = fs.readFileSync(path)
  let max = 0
  let at = 0
  while (at < bytes.length) {
    const read = readFrame(bytes, at)
    if (read._tag !== "Frame") throw new Error(`${path}: no whole frame at byte ${at}`)
    for (const op of read.ops) if (op._tag === "PutEntry" && op.index > max) max = op.index
    at = read.end
  }
  return max
}

/** A valid frame as a crash could have started writing it (entry 99 with a 200-byte value). */
const pendingFrame = (): Uint8Array =>
  encodeFrame([{ _tag: "PutEntry", index: 99, value: encodeEntry(entry(9, "p".repeat(200))) }])

/** A data dir with hard state {3, 2} and entries 1..9 in three synced batches of one open. */
const populated = Effect.gen(function* () {
  const dataDir = yield* fresh
  yield* withStore(dataDir, (s) =>
    Effect.gen(function* () {
      yield* s.write([persist(1, 1, numbered(1, 3), { term: 1, vote: 1 })])
      yield* s.write([persist(2, 4, numbered(4, 6, 2), { term: 2, vote: 1 })])
      yield* s.write([persist(3, 7, numbered(7, 9, 3), { term: 3, vote: 2 })])
    })
  )
  return dataDir
})
const POPULATED = [...show(numbered(1, 3)), ...show(numbered(4, 6, 2)), ...show(numbered(7, 9, 3))]

/** Everything written by `populated` loads back. */
const assertPopulated = (dataDir: string) =>
  Effect.gen(function* () {
    const r = yield* loadOf(dataDir)
    assert.deepStrictEqual(r.hardState, { term: 3, vote: 2 })
    assert.deepStrictEqual(show(r.entries), POPULATED)
  })

// ---------------------------------------------------------------------------------------------
// Swapping node:fs functions (as seen by every module importing node:fs) for fault injection

type FsFunction = "openSync" | "writeSync" | "fdatasyncSync" | "fsyncSync" | "closeSync" | "rmSync"
type Untyped = (...args: Array<unknown>) => unknown

/** Replace `fs[name]` with `make(original)` until the scope closes. */
const swapFs = (name: FsFunction, make: (original: Untyped) => Untyped) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const original = fs[name] as Untyped
      Reflect.set(
        fs,
        name,
        make((...args) => Reflect.apply(original, fs, args))
      )
      syncBuiltinESMExports()
      return original
    }),
    (original) =>
      Effect.sync(() => {
        Reflect.set(fs, name, original)
        syncBuiltinESMExports()
      })
  )

const enospc = (): Error =>
  Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28 })

/**
 * Track which segment files hold bytes written but not yet fsynced, and record every segment file
 * created (opened with "wx") while another segment still holds such bytes. Until the scope closes.
 */
const trackSegmentDurability = Effect.gen(function* () {
  const pathOfFd = new Map<number, string>()
  const dirty = new Set<string>()
  const violations: Array<string> = []
  const isSegment = (p: unknown): p is string => typeof p === "string" && p.endsWith(".seg")
  yield* swapFs("openSync", (original) => (...args) => {
    const [path, flags] = args
    if (isSegment(path) && flags === "wx" && dirty.size > 0) {
      violations.push(
        `${nodePath.basename(path)} created while ${[...dirty].map((p) => nodePath.basename(p)).join(", ")} held unsynced bytes`
      )
    }
    const fd = original(...args)
    if (isSegment(path) && typeof fd === "number") pathOfFd.set(fd, path)
    return fd
  })
  yield* swapFs("writeSync", (original) => (...args) => {
    const path = pathOfFd.get(args[0] as number)
    if (path !== undefined) dirty.add(path)
    return original(...args)
  })
  const synced =
    (original: Untyped) =>
    (...args: Array<unknown>) => {
      const result = original(...args)
      const path = pathOfFd.get(args[0] as number)
      if (path !== undefined) dirty.delete(path)
      return result
    }
  yield* swapFs("fdatasyncSync", synced)
  yield* swapFs("fsyncSync", synced)
  yield* swapFs("closeSync", (original) => (...args) => {
    pathOfFd.delete(args[0] as number)
    return original(...args)
  })
  yield* swapFs("rmSync", (original) => (...args) => {
    dirty.delete(args[0] as string)
    return original(...args)
  })
  return violations
})

// ---------------------------------------------------------------------------------------------

describe("segment log store: torn tails (the last segment, cut on open)", () => {
  it.live("a partial frame at the end of the last segment is cut off, whatever its length", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const last = lastSegment(dataDir)
      const before = fs.readFileSync(last)
      const frame = pendingFrame()
      // Inside the length field, inside the CRC, header only, half the body, all but one byte.
      for (const cut of [1, 5, FRAME_HEADER_BYTES, frame.length >> 1, frame.length - 1]) {
        fs.appendFileSync(last, frame.subarray(0, cut))
        yield* assertPopulated(dataDir)
        assert.deepStrictEqual(fs.readFileSync(last), before, `torn frame of ${cut} bytes`)
      }
      assert.strictEqual(lastSegment(dataDir), last)
    })
  )

  it.live("a zeroed tail (the file grew, its data never landed) is cut off", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const last = lastSegment(dataDir)
      const before = fs.readFileSync(last)
      fs.appendFileSync(last, new Uint8Array(4096))
      yield* assertPopulated(dataDir)
      assert.deepStrictEqual(fs.readFileSync(last), before)
      // A frame's first half landed, the rest of the grown region is zeros.
      const frame = pendingFrame()
      const grown = new Uint8Array(4096)
      grown.set(frame.subarray(0, frame.length >> 1))
      fs.appendFileSync(last, grown)
      yield* assertPopulated(dataDir)
      assert.deepStrictEqual(fs.readFileSync(last), before)
    })
  )

  it.live("a whole-length frame with a bad CRC ending exactly at the end of the last segment is torn", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const last = lastSegment(dataDir)
      const before = fs.readFileSync(last)
      const frame = pendingFrame()
      frame[frame.length - 3]! ^= 0x40
      fs.appendFileSync(last, frame)
      yield* assertPopulated(dataDir)
      assert.deepStrictEqual(fs.readFileSync(last), before)
      // Writes continue normally after the repair.
      yield* withStore(dataDir, (s) => s.write([persist(4, 10, [entry(3, "ten")])]))
      assert.deepStrictEqual(show((yield* loadOf(dataDir)).entries), [...POPULATED, "3:ten"])
    })
  )
})

describe("segment log store: corruption is reported, never skipped or cut", () => {
  it.live("a bad first frame of the last segment, followed by valid frames, fails the open", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const last = lastSegment(dataDir)
      const bytes = fs.readFileSync(last)
      const spans = frameSpans(bytes)
      assert.isAtLeast(spans.length, 3, "the last segment holds several frames")
      bytes[FRAME_HEADER_BYTES + 2]! ^= 0x01
      fs.writeFileSync(last, bytes)
      const before = logFiles(dataDir)
      const e = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(e._tag, "CorruptDataDir")
      assert.include(e.message, `${nodePath.basename(last)}: bad frame at byte 0: CRC mismatch`)
      assert.include(e.message, dataDir)
      assert.deepStrictEqual(logFiles(dataDir), before, "nothing in log/ changed")
      // Still refused the next time: nothing was repaired away.
      assert.strictEqual((yield* Effect.flip(loadOf(dataDir)))._tag, "CorruptDataDir")
    })
  )

  it.live("a bad frame in the middle of the last segment fails the open", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const last = lastSegment(dataDir)
      const bytes = fs.readFileSync(last)
      const middle = frameSpans(bytes)[1]!
      bytes[middle.end - 1]! ^= 0x80
      fs.writeFileSync(last, bytes)
      const before = logFiles(dataDir)
      const e = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(e._tag, "CorruptDataDir")
      assert.include(e.message, `${nodePath.basename(last)}: bad frame at byte ${middle.start}`)
      assert.deepStrictEqual(logFiles(dataDir), before)
    })
  )

  it.live(
    "a corrupt length reaching past the end of the last segment, valid frames after it, fails the open",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* populated
        const last = lastSegment(dataDir)
        const bytes = fs.readFileSync(last)
        const spans = frameSpans(bytes)
        assert.isAtLeast(spans.length, 3)
        // The second frame claims ~2 GiB: it "runs past the end", like a torn frame, but the synced
        // frames after it prove the file was written beyond it.
        bytes[spans[1]!.start]! ^= 0x70
        fs.writeFileSync(last, bytes)
        const before = logFiles(dataDir)
        const e = yield* Effect.flip(loadOf(dataDir))
        assert.strictEqual(e._tag, "CorruptDataDir")
        assert.include(e.message, `${nodePath.basename(last)}: bad frame at byte ${spans[1]!.start}`)
        assert.deepStrictEqual(logFiles(dataDir), before, "acknowledged frames were not cut off")
      })
  )

  it.live("a bad or cut-short frame at the end of a segment that is not the last fails the open", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      // A second open starts a second segment.
      yield* withStore(dataDir, (s) => s.write([persist(4, 10, [entry(3, "ten")])]))
      const names = segments(dataDir)
      assert.strictEqual(names.length, 2)
      const first = segPath(dataDir, names[0]!)
      const original = fs.readFileSync(first)
      const lastFrame = frameSpans(original).at(-1)!

      const flipped = Buffer.from(original)
      flipped[flipped.length - 1]! ^= 0x01
      fs.writeFileSync(first, flipped)
      const before = logFiles(dataDir)
      const bad = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(bad._tag, "CorruptDataDir")
      assert.include(bad.message, `${names[0]}: bad frame at byte ${lastFrame.start}: CRC mismatch`)
      assert.deepStrictEqual(logFiles(dataDir), before)

      fs.writeFileSync(first, original.subarray(0, original.length - 1))
      const cut = logFiles(dataDir)
      const short = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(short._tag, "CorruptDataDir")
      assert.include(short.message, `${names[0]}: bad frame at byte ${lastFrame.start}: a frame cut short`)
      assert.deepStrictEqual(logFiles(dataDir), cut)

      fs.writeFileSync(first, Buffer.concat([original, new Uint8Array(512)]))
      const zeros = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(zeros._tag, "CorruptDataDir")
      assert.include(zeros.message, `${names[0]}: bad frame at byte ${original.length}`)

      fs.writeFileSync(first, original)
      const r = yield* loadOf(dataDir)
      assert.deepStrictEqual(show(r.entries), [...POPULATED, "3:ten"])
    })
  )
})

describe("segment log store: segment files", () => {
  it.live("segments roll at the size limit and retire once compacted; metas outlive their segment", () =>
    Effect.gen(function* () {
      const dataDir = yield* fresh
      const small = { writeBufferBytes: 512 }
      const snapshot = text.encode("state at 150")
      yield* withStore(
        dataDir,
        (s) =>
          Effect.gen(function* () {
            // The hard state is written once, in the first segment only.
            yield* s.write([persist(1, 1, numbered(1, 5, 1, 20), { term: 1, vote: 3 })])
            for (let k = 1; k < 40; k++) {
              yield* s.write([persist(k + 1, 5 * k + 1, numbered(5 * k + 1, 5 * k + 5, 1, 20))])
            }
            const rolled = segments(dataDir)
            assert.isAtLeast(rolled.length, 6, rolled.join(", "))
            for (const name of rolled.slice(0, -1)) {
              const size = fs.statSync(segPath(dataDir, name)).size
              // A segment is replaced once it reaches the limit, so none ends far past it.
              assert.isAtLeast(size, 512, name)
              assert.isBelow(size, 2 * 512, name)
            }
            const puts = new Map(rolled.map((n) => [n, maxPut(segPath(dataDir, n))]))

            yield* s.saveSnapshot({ index: 150, term: 1 }, Stream.make(snapshot))
            yield* s.compact(150)
            const kept = segments(dataDir)
            const gone = rolled.filter((n) => !kept.includes(n))
            assert.isAtLeast(gone.length, 3, `retired: ${gone.join(", ")}`)
            // Oldest first, only those holding nothing above 150, never the current one.
            assert.deepStrictEqual(gone, rolled.slice(0, gone.length))
            for (const n of gone) assert.isAtMost(puts.get(n)!, 150, n)
            assert.isAbove(puts.get(rolled[gone.length]!) ?? Number.POSITIVE_INFINITY, 150)
            assert.include(kept, rolled.at(-1)!)
            assert.include(gone, segName(1), "the segment with the format and identity records went")

            const r = yield* s.load
            assert.deepStrictEqual(show(r.entries), show(numbered(151, 200, 1, 20)))
          }),
        small
      )
      const r = yield* loadOf(dataDir, small)
      assert.deepStrictEqual(r.hardState, { term: 1, vote: 3 })
      assert.deepStrictEqual(r.snapshot, { index: 150, term: 1, size: snapshot.length })
      assert.deepStrictEqual(show(r.entries), show(numbered(151, 200, 1, 20)))
      // The compaction is recorded: a replay does not bring back compacted entries.
      const raw = yield* withKv(dataDir, (kv) => kv.readEntries(0))
      assert.strictEqual(raw[0]?.index, 151)
      // And the store keeps working on the remaining segments.
      yield* withStore(
        dataDir,
        (s) => s.write([persist(1, 201, [entry(2, "more")], { term: 2, vote: 0 })]),
        small
      )
      const again = yield* loadOf(dataDir, small)
      assert.deepStrictEqual(again.hardState, { term: 2, vote: 0 })
      assert.deepStrictEqual(show(again.entries), [...show(numbered(151, 200, 1, 20)), "2:more"])
    })
  )

  it.live("every open writes to a new segment and leaves the previous last one as it was", () =>
    Effect.gen(function* () {
      const dataDir = yield* fresh
      yield* withStore(dataDir, (s) => s.write([persist(1, 1, numbered(1, 2))]))
      assert.deepStrictEqual(segments(dataDir), [segName(1)])
      const first = fs.readFileSync(segPath(dataDir, segName(1)))
      yield* withStore(dataDir, (s) => s.write([persist(1, 3, numbered(3, 4, 2))]))
      assert.deepStrictEqual(segments(dataDir), [segName(1), segName(2)])
      assert.deepStrictEqual(fs.readFileSync(segPath(dataDir, segName(1))), first)
      yield* withStore(dataDir, (s) => s.write([persist(1, 5, numbered(5, 5, 3))]))
      assert.deepStrictEqual(segments(dataDir), [segName(1), segName(2), segName(3)])
      assert.deepStrictEqual(show((yield* loadOf(dataDir)).entries), [
        ...show(numbered(1, 2)),
        ...show(numbered(3, 4, 2)),
        ...show(numbered(5, 5, 3))
      ])
    })
  )

  it.live("a next segment that a crash left empty or torn is removed, and the data loads", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const kept = segments(dataDir)
      const frame = pendingFrame()
      for (const content of [new Uint8Array(0), frame.subarray(0, frame.length >> 1)]) {
        fs.writeFileSync(segPath(dataDir, segName(99)), content)
        yield* assertPopulated(dataDir)
        assert.deepStrictEqual(segments(dataDir), kept, `a next segment of ${content.length} bytes`)
      }
      yield* withStore(dataDir, (s) => s.write([persist(4, 10, [entry(3, "ten")])]))
      assert.deepStrictEqual(show((yield* loadOf(dataDir)).entries), [...POPULATED, "3:ten"])
      assert.notInclude(segments(dataDir), segName(99))
    })
  )

  it.live("a roll makes every earlier segment durable first (an unsynced compaction record included)", () =>
    Effect.gen(function* () {
      const violations = yield* trackSegmentDurability
      const dataDir = yield* fresh
      const small = { writeBufferBytes: 512 }
      yield* withStore(
        dataDir,
        (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 20))])
            yield* s.saveSnapshot({ index: 20, term: 1 }, Stream.make(text.encode("s")))
            const first = segPath(dataDir, segName(1))
            assert.deepStrictEqual(segments(dataDir), [segName(1)])
            assert.isBelow(fs.statSync(first).size, 480, "room for unsynced compaction records")
            // Each compaction appends an unsynced record, until the segment is full and rolls.
            for (let upTo = 1; upTo < 20 && segments(dataDir).length === 1; upTo++) yield* s.compact(upTo)
            assert.deepStrictEqual(segments(dataDir), [segName(1), segName(2)], "the segment rolled")
          }),
        small
      )
      // Segment 1 ends in compaction records never fsynced: a power loss could tear them, and
      // segment 1 is no longer the last one, so the next open would report corruption.
      assert.deepStrictEqual(violations, [])
    })
  )

  it.live("the first write after an open makes the inherited last segment durable before rolling", () =>
    Effect.gen(function* () {
      const violations = yield* trackSegmentDurability
      const dataDir = yield* fresh
      yield* withStore(dataDir, (s) =>
        Effect.gen(function* () {
          yield* s.write([persist(1, 1, numbered(1, 5))])
          yield* s.saveSnapshot({ index: 3, term: 1 }, Stream.make(text.encode("s")))
          // Recorded in segment 1 without an fsync; the store then closes.
          yield* s.compact(3)
        })
      )
      yield* withStore(dataDir, (s) => s.write([persist(1, 6, [entry(1, "six")])]))
      assert.deepStrictEqual(segments(dataDir), [segName(1), segName(2)])
      // Segment 1's compaction record may still be only in the page cache when segment 2 is made
      // durable: a power loss could then tear segment 1, which is no longer the last one.
      assert.deepStrictEqual(violations, [])
    })
  )
})

describe("segment log store: failed writes leave nothing behind", () => {
  it.live("a write that fails part-way is cut off the segment; later writes and reopens are clean", () =>
    Effect.gen(function* () {
      const dataDir = yield* fresh
      yield* withStore(dataDir, (s) =>
        Effect.gen(function* () {
          yield* s.write([persist(1, 1, numbered(1, 3), { term: 1, vote: 1 })])
          const last = lastSegment(dataDir)
          const size = fs.statSync(last).size
          const failing = yield* Effect.scoped(
            Effect.gen(function* () {
              let calls = 0
              // The first call writes half, the second finds the disk full.
              yield* swapFs("writeSync", (original) => (...args) => {
                if (calls++ > 0) throw enospc()
                const [fd, buffer, offset, length, position] = args as [
                  number,
                  Uint8Array,
                  number,
                  number,
                  number
                ]
                return original(fd, buffer, offset, length >> 1, position)
              })
              return yield* Effect.flip(s.write([persist(2, 4, numbered(4, 6, 2), { term: 2, vote: 2 })]))
            })
          )
          assert.strictEqual(failing._tag, "StorageIOError")
          assert.strictEqual(failing.code, "ENOSPC")
          assert.include(failing.message, "disk full")
          assert.strictEqual(fs.statSync(last).size, size, "the partial frame was cut off")
          // The failed write is not visible, and the next one continues from the old end.
          const r = yield* s.load
          assert.deepStrictEqual(r.hardState, { term: 1, vote: 1 })
          assert.deepStrictEqual(show(r.entries), show(numbered(1, 3)))
          yield* s.write([persist(3, 4, [entry(2, "four")])])
        })
      )
      const r = yield* loadOf(dataDir)
      assert.deepStrictEqual(r.hardState, { term: 1, vote: 1 })
      assert.deepStrictEqual(show(r.entries), [...show(numbered(1, 3)), "2:four"])
    })
  )

  it.live("a roll that fails removes the new segment; the next write rolls again", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const kept = segments(dataDir)
      yield* withStore(dataDir, (s) =>
        Effect.gen(function* () {
          // The first write after an open rolls to a new segment.
          const failing = yield* Effect.scoped(
            Effect.andThen(
              swapFs("writeSync", () => () => {
                throw enospc()
              }),
              Effect.flip(s.write([persist(4, 10, [entry(3, "ten")])]))
            )
          )
          assert.strictEqual(failing._tag, "StorageIOError")
          assert.strictEqual(failing.code, "ENOSPC")
          assert.deepStrictEqual(segments(dataDir), kept, "no half-made segment left")
          yield* s.write([persist(5, 10, [entry(3, "TEN")])])
        })
      )
      assert.strictEqual(segments(dataDir).length, kept.length + 1)
      assert.deepStrictEqual(show((yield* loadOf(dataDir)).entries), [...POPULATED, "3:TEN"])
    })
  )

  it.live("after a failed fsync the store refuses every later write", () =>
    Effect.gen(function* () {
      const dataDir = yield* fresh
      yield* withStore(dataDir, (s) =>
        Effect.gen(function* () {
          yield* s.write([persist(1, 1, numbered(1, 3))])
          const failed = yield* Effect.scoped(
            Effect.andThen(
              swapFs("fdatasyncSync", () => () => {
                throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })
              }),
              Effect.flip(s.write([persist(2, 4, [entry(1, "four")])]))
            )
          )
          assert.strictEqual(failed.code, "EIO")
          const size = fs.statSync(lastSegment(dataDir)).size
          const later = yield* Effect.flip(s.write([persist(3, 4, [entry(1, "four again")])]))
          assert.strictEqual(later._tag, "StorageIOError")
          assert.include(later.message, "failed earlier")
          assert.strictEqual(fs.statSync(lastSegment(dataDir)).size, size, "nothing more was written")
        })
      )
    })
  )
})

describe("segment log store: engines and locks", () => {
  it.live("a LevelDB data dir is refused by the segment engine, naming --log-store leveldb", () =>
    Effect.gen(function* () {
      const dataDir = yield* fresh
      const level = { engine: "leveldb" as const }
      yield* withStore(dataDir, (s) => s.write([persist(1, 1, numbered(1, 3), { term: 1, vote: 1 })]), level)
      const before = logFiles(dataDir)
      const e = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(e._tag, "CorruptDataDir")
      assert.include(e.message, "--log-store leveldb")
      assert.deepStrictEqual(logFiles(dataDir), before, "no segment or lock file left in the LevelDB dir")
      const r = yield* loadOf(dataDir, level)
      assert.deepStrictEqual(show(r.entries), show(numbered(1, 3)))
    })
  )

  it.live("a segments data dir is refused by the LevelDB engine and still opens with segments", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const names = segments(dataDir)
      const contents = names.map((n) => fs.readFileSync(segPath(dataDir, n)))
      const e = yield* Effect.flip(loadOf(dataDir, { engine: "leveldb" }))
      assert.strictEqual(e._tag, "CorruptDataDir")
      assert.deepStrictEqual(segments(dataDir), names, "no segment deleted")
      assert.deepStrictEqual(
        names.map((n) => fs.readFileSync(segPath(dataDir, n))),
        contents,
        "no segment changed"
      )
      // The mistaken flag must not cost the data dir: the right engine still opens it.
      yield* assertPopulated(dataDir)
    })
  )

  it.live("a lock file left by a process that is gone is taken over", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const gone = spawnSync(process.execPath, ["-e", ""])
      assert.strictEqual(gone.status, 0)
      const lock = nodePath.join(logDir(dataDir), "segments.lock")
      fs.writeFileSync(lock, `${gone.pid}\n`)
      yield* withStore(dataDir, (s) =>
        Effect.gen(function* () {
          assert.strictEqual(fs.readFileSync(lock, "utf8"), `${process.pid}\n`)
          const r = yield* s.load
          assert.deepStrictEqual(show(r.entries), POPULATED)
        })
      )
      assert.isFalse(fs.existsSync(lock), "released on close")
    })
  )

  it.live("a lock file of a live process fails the open and stays", () =>
    Effect.gen(function* () {
      const dataDir = yield* populated
      const lock = nodePath.join(logDir(dataDir), "segments.lock")
      fs.writeFileSync(lock, `${process.ppid}\n`)
      const before = logFiles(dataDir)
      const e = yield* Effect.flip(loadOf(dataDir))
      assert.strictEqual(e._tag, "StorageIOError")
      assert.include(e.message, "in use by another process")
      assert.include(e.message, String(process.ppid))
      assert.deepStrictEqual(logFiles(dataDir), before, "the lock and the segments are untouched")
      fs.rmSync(lock)
      yield* assertPopulated(dataDir)
    })
  )
})
