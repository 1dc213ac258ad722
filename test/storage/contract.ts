/**
 * The LogStore contract: one suite, run against every layer (level.test.ts, memory.test.ts).
 * A `Harness` gives the suite fresh data dirs, a way to open a store on one, and raw access to
 * what is "on disk" so tests can corrupt it or check that nothing was touched.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import type { Scope } from "effect"
import type { Entry, HardState, Persist, PersistSnapshotChunk, SnapshotMeta } from "../../src/core/types.ts"
import type { MetaName } from "../../src/storage/codec.ts"
import type { Identity, LogStoreShape, OpenError } from "../../src/storage/index.ts"

export interface Harness<L> {
  readonly name: string
  /** A fresh, empty data location, removed when the scope closes. */
  readonly fresh: Effect.Effect<L, never, Scope.Scope>
  /** A location whose data dir cannot be created. */
  readonly unwritable: Effect.Effect<L, never, Scope.Scope>
  readonly open: (loc: L, identity: Identity) => Effect.Effect<LogStoreShape, OpenError, Scope.Scope>
  /** The data dir as error messages name it. */
  readonly dataDir: (loc: L) => string
  // Raw access (the store must be closed, except for the read-only snapshotFiles):
  readonly putEntryRaw: (loc: L, index: number, value: Uint8Array) => Effect.Effect<void>
  readonly delEntryRaw: (loc: L, index: number) => Effect.Effect<void>
  readonly putMetaRaw: (loc: L, name: MetaName, value: Uint8Array) => Effect.Effect<void>
  readonly entryIndices: (loc: L) => Effect.Effect<ReadonlyArray<number>>
  /** Names in the snapshot directory. */
  readonly snapshotFiles: (loc: L) => Effect.Effect<ReadonlyArray<string>>
  /** Cut a file of the data dir (relative path) to `size` bytes. */
  readonly truncateFile: (loc: L, path: string, size: number) => Effect.Effect<void>
  /** Remove the whole key-value store (a truncated data dir). */
  readonly removeLog: (loc: L) => Effect.Effect<void>
  /** Everything stored (names, sizes, contents, modification times), to prove nothing changed. */
  readonly fingerprint: (loc: L) => Effect.Effect<string>
}

const ID: Identity = { clusterId: "alpha", nodeId: 1 }
const text = new TextEncoder()
const untext = new TextDecoder()

const entry = (term: number, data: string, kind: Entry["kind"] = "command"): Entry => ({
  term,
  kind,
  data: text.encode(data)
})
const persist = (
  writeId: number,
  from: number | undefined,
  entries: ReadonlyArray<Entry> = [],
  hardState?: HardState
): Persist => ({
  _tag: "Persist",
  writeId,
  hardState,
  log: from === undefined ? undefined : { from, entries }
})
const chunk = (
  writeId: number,
  snapshot: SnapshotMeta,
  offset: number,
  data: string,
  done: boolean,
  keepLog = true
): PersistSnapshotChunk => ({
  _tag: "PersistSnapshotChunk",
  writeId,
  snapshot,
  offset,
  data: text.encode(data),
  done,
  keepLog
})
/** Entries 1..n with term `term` and data "e<i>". */
const numbered = (from: number, to: number, term = 1): Array<Entry> => {
  const out: Array<Entry> = []
  for (let i = from; i <= to; i++) out.push(entry(term, `e${i}`))
  return out
}
/** "term:kind:data" of each entry, for readable comparisons. */
const show = (entries: ReadonlyArray<Entry>): Array<string> =>
  entries.map((e) => `${e.term}:${e.kind === "noop" ? "noop" : "cmd"}:${untext.decode(e.data)}`)
const shown = (from: number, to: number, term = 1) => show(numbered(from, to, term))
const collect = (s: Stream.Stream<Uint8Array, unknown>) =>
  Effect.map(Stream.runCollect(s), (chunks) => untext.decode(Buffer.concat(Array.from(chunks))))

/** Run `f` on a store opened on `loc`, closing it afterwards (a clean "process" lifetime). */
const withStore = <L, A, E>(
  h: Harness<L>,
  loc: L,
  f: (store: LogStoreShape) => Effect.Effect<A, E, Scope.Scope>,
  identity: Identity = ID
) => Effect.scoped(Effect.flatMap(h.open(loc, identity), f))

export const logStoreContract = <L>(h: Harness<L>): void => {
  describe(`LogStore contract (${h.name})`, () => {
    it.live("a fresh data dir loads as empty, and records the identity", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const restored = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(restored.hardState, { term: 0, vote: 0 })
        assert.strictEqual(restored.snapshot, undefined)
        assert.strictEqual(restored.entries.length, 0)
        const mismatch = yield* Effect.flip(
          withStore(h, loc, (s) => s.load, { clusterId: "alpha", nodeId: 9 })
        )
        assert.strictEqual(mismatch._tag, "DataDirMismatch")
      })
    )

    it.live("write then load round-trips hard state and entries of every kind", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const binary: Entry = { term: 3, kind: "command", data: new Uint8Array([0, 255, 1, 128, 0]) }
        const big: Entry = { term: 300_000, kind: "command", data: new Uint8Array(70_000).fill(7) }
        const entries = [entry(1, "", "noop"), entry(1, "a"), binary, entry(3, "", "command"), big]
        const restored = yield* withStore(h, loc, (s) =>
          Effect.andThen(s.write([persist(1, 1, entries.slice(0, 2), { term: 1, vote: 2 })]), () =>
            Effect.andThen(s.write([persist(2, 3, entries.slice(2), { term: 300_000, vote: 0 })]), s.load)
          )
        )
        assert.deepStrictEqual(restored.hardState, { term: 300_000, vote: 0 })
        assert.deepStrictEqual(show(restored.entries), show(entries))
        assert.deepStrictEqual(Array.from(restored.entries[2]!.data), [0, 255, 1, 128, 0])
        assert.strictEqual(restored.entries[4]!.data.length, 70_000)
        assert.strictEqual(restored.entries[4]!.term, 300_000)
      })
    )

    it.live("a write with from <= last index replaces the suffix (within one group and across groups)", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 5))])
            yield* s.write([persist(2, 3, [entry(2, "x"), entry(2, "y")])])
            assert.deepStrictEqual(show((yield* s.load).entries), [...shown(1, 2), "2:cmd:x", "2:cmd:y"])
            // Pure truncation (no entries), then an append and another truncation in the same group.
            yield* s.write([persist(3, 2, []), persist(4, 2, [entry(3, "p"), entry(3, "q"), entry(3, "r")])])
            // A truncation inside the group, and one beyond the end (a no-op).
            yield* s.write([
              persist(5, 3, [entry(4, "z"), entry(4, "w")]),
              persist(6, 4, []),
              persist(7, 9, [])
            ])
            assert.deepStrictEqual(show((yield* s.load).entries), ["1:cmd:e1", "3:cmd:p", "4:cmd:z"])
          })
        )
        assert.deepStrictEqual(yield* h.entryIndices(loc), [1, 2, 3])
      })
    )

    it.live("a restart recovers exactly what was written, and the last index is derived again", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.andThen(
            s.write([persist(1, 1, numbered(1, 10), { term: 1, vote: 1 })]),
            s.write([persist(2, 11, numbered(11, 12, 2), { term: 2, vote: 3 })])
          )
        )
        const after = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(after.hardState, { term: 2, vote: 3 })
        assert.deepStrictEqual(show(after.entries), [...shown(1, 10), ...shown(11, 12, 2)])
        // The reopened store knows entries end at 12: truncating from 5 removes 6..12 too.
        yield* withStore(h, loc, (s) => s.write([persist(3, 5, [entry(3, "n")])]))
        const again = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(show(again.entries), [...shown(1, 4), "3:cmd:n"])
        assert.deepStrictEqual(yield* h.entryIndices(loc), [1, 2, 3, 4, 5])
      })
    )

    it.live("hard state: present replaces, absent keeps, the last in a group wins", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, undefined, [], { term: 5, vote: 2 })])
            yield* s.write([persist(2, 1, [entry(5, "a")])])
            assert.deepStrictEqual((yield* s.load).hardState, { term: 5, vote: 2 })
            yield* s.write([
              persist(3, undefined, [], { term: 6, vote: 0 }),
              persist(4, undefined, [], { term: 7, vote: 3 })
            ])
          })
        )
        assert.deepStrictEqual((yield* withStore(h, loc, (s) => s.load)).hardState, { term: 7, vote: 3 })
      })
    )

    it.live("compaction drops entries up to the snapshot; load skips entries the snapshot covers", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 10))])
            const meta = yield* s.saveSnapshot({ index: 6, term: 1 }, Stream.make(text.encode("state@6")))
            assert.deepStrictEqual(meta, { index: 6, term: 1, size: 7 })
            // Not compacted yet: entries 1..6 are still stored, but load returns what follows the snapshot.
            const before = yield* s.load
            assert.deepStrictEqual(before.snapshot, meta)
            assert.deepStrictEqual(show(before.entries), shown(7, 10))
            yield* s.compact(6)
            yield* s.compact(3) // below the compaction point: nothing to do
          })
        )
        assert.deepStrictEqual(yield* h.entryIndices(loc), [7, 8, 9, 10])
        const after = yield* withStore(h, loc, (s) =>
          // Appending after a restart continues at 11; truncating at 8 still works after compaction.
          Effect.andThen(s.write([persist(2, 11, [entry(2, "e11")]), persist(3, 9, [entry(2, "t")])]), s.load)
        )
        assert.deepStrictEqual(after.snapshot, { index: 6, term: 1, size: 7 })
        assert.deepStrictEqual(show(after.entries), [...shown(7, 8), "2:cmd:t"])
      })
    )

    it.live(
      "after a restart with only entries the snapshot covers, the log continues after the snapshot",
      () =>
        Effect.gen(function* () {
          const loc = yield* h.fresh
          yield* withStore(h, loc, (s) =>
            Effect.andThen(
              s.write([persist(1, 1, numbered(1, 5))]),
              s.saveSnapshot({ index: 5, term: 1 }, Stream.make(text.encode("s5")))
            )
          )
          const r = yield* withStore(h, loc, (s) =>
            Effect.gen(function* () {
              assert.strictEqual((yield* s.load).entries.length, 0)
              yield* s.write([persist(2, 6, [entry(2, "six")])])
              yield* s.compact(5)
              return yield* s.load
            })
          )
          assert.deepStrictEqual(show(r.entries), ["2:cmd:six"])
          assert.deepStrictEqual(yield* h.entryIndices(loc), [6])
        })
    )

    it.live("saved snapshots: chunked reads, streaming, replacement, and restart", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const data = Array.from({ length: 5000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("")
        const first = yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 20))])
            const fromIterable = (async function* () {
              yield text.encode(data.slice(0, 1000))
              yield text.encode(data.slice(1000))
            })()
            const meta = yield* s.saveSnapshot({ index: 10, term: 1 }, fromIterable)
            assert.deepStrictEqual(meta, { index: 10, term: 1, size: 5000 })
            assert.strictEqual(untext.decode(yield* s.readSnapshotChunk(meta, 0, 10)), data.slice(0, 10))
            assert.strictEqual(untext.decode(yield* s.readSnapshotChunk(meta, 4990, 100)), data.slice(4990))
            assert.strictEqual((yield* s.readSnapshotChunk(meta, 5000, 100)).length, 0)
            assert.strictEqual(yield* collect(s.openSnapshot(meta)), data)
            return meta
          })
        )
        const second = yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            assert.deepStrictEqual((yield* s.load).snapshot, first)
            assert.strictEqual(yield* collect(s.openSnapshot(first)), data)
            // A stream held open keeps reading the old file while a newer snapshot replaces it.
            const meta = yield* s.saveSnapshot(
              { index: 15, term: 1 },
              Stream.make(text.encode("new"), text.encode("er"))
            )
            assert.deepStrictEqual(meta, { index: 15, term: 1, size: 5 })
            const gone = yield* Effect.flip(s.readSnapshotChunk(first, 0, 10))
            assert.strictEqual(gone._tag, "SnapshotNotFound")
            const goneStream = yield* Effect.flip(collect(s.openSnapshot(first)))
            assert.strictEqual((goneStream as { _tag?: string })._tag, "SnapshotNotFound")
            // An older snapshot finishing late does not replace the newer one.
            const late = yield* s.saveSnapshot({ index: 12, term: 1 }, Stream.make(text.encode("late")))
            assert.deepStrictEqual(late, meta)
            assert.strictEqual(yield* collect(s.openSnapshot(meta)), "newer")
            return meta
          })
        )
        const files = yield* h.snapshotFiles(loc)
        assert.strictEqual(files.length, 1, `one snapshot file expected, found ${files.join(", ")}`)
        const restored = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(restored.snapshot, second)
        assert.deepStrictEqual(show(restored.entries), shown(16, 20))
      })
    )

    it.live("a snapshot stream failure leaves the old snapshot in place and no temp file", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 5))])
            const meta = yield* s.saveSnapshot({ index: 2, term: 1 }, Stream.make(text.encode("ok")))
            const failing = Stream.concat(
              Stream.make(text.encode("partial")),
              Stream.fail("source broke" as const)
            )
            const error = yield* Effect.flip(s.saveSnapshot({ index: 4, term: 1 }, failing))
            assert.strictEqual(error, "source broke")
            assert.deepStrictEqual((yield* s.load).snapshot, meta)
          })
        )
        assert.strictEqual((yield* h.snapshotFiles(loc)).length, 1)
      })
    )

    it.live("an incoming snapshot installed in chunks with keepLog: entries after it stay", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const meta: SnapshotMeta = { index: 7, term: 2, size: 13 }
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, [...numbered(1, 5), ...numbered(6, 10, 2)])])
            yield* s.writeSnapshotChunk(chunk(2, meta, 0, "hello", false))
            yield* s.writeSnapshotChunk(chunk(3, meta, 5, " world", false))
            // Not installed until done.
            assert.strictEqual((yield* s.load).snapshot, undefined)
            yield* s.writeSnapshotChunk(chunk(4, meta, 11, "!!", true))
            const r = yield* s.load
            assert.deepStrictEqual(r.snapshot, meta)
            assert.deepStrictEqual(show(r.entries), shown(8, 10, 2))
            assert.strictEqual(yield* collect(s.openSnapshot(meta)), "hello world!!")
            yield* s.write([persist(5, 11, [entry(3, "after")])])
          })
        )
        assert.deepStrictEqual(yield* h.entryIndices(loc), [8, 9, 10, 11])
        const r = yield* withStore(h, loc, (s) =>
          Effect.map(
            Effect.all([s.load, Effect.map(s.readSnapshotChunk(meta, 6, 5), (b) => untext.decode(b))]),
            ([load, part]) => ({ load, part })
          )
        )
        assert.deepStrictEqual(r.load.snapshot, meta)
        assert.deepStrictEqual(show(r.load.entries), [...shown(8, 10, 2), "3:cmd:after"])
        assert.strictEqual(r.part, "world")
      })
    )

    it.live("an incoming snapshot without keepLog drops the whole log; writes continue after it", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const meta: SnapshotMeta = { index: 4, term: 3, size: 3 }
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 9))])
            yield* s.write([chunk(2, meta, 0, "abc", true, false)])
            const r = yield* s.load
            assert.deepStrictEqual(r.snapshot, meta)
            assert.strictEqual(r.entries.length, 0)
            yield* s.write([persist(3, 5, [entry(3, "five")])])
          })
        )
        assert.deepStrictEqual(yield* h.entryIndices(loc), [5])
        const r = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(r.snapshot, meta)
        assert.deepStrictEqual(show(r.entries), ["3:cmd:five"])
      })
    )

    it.live("one group mixes Persist and snapshot chunks, applied in writeId order", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const meta: SnapshotMeta = { index: 5, term: 2, size: 6 }
        yield* withStore(h, loc, (s) =>
          s.write([
            persist(1, 1, numbered(1, 3), { term: 2, vote: 1 }),
            chunk(2, meta, 0, "sna", false, false),
            chunk(3, meta, 3, "p!!", true, false),
            persist(4, 6, [entry(2, "six"), entry(2, "seven")])
          ])
        )
        const r = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(r.hardState, { term: 2, vote: 1 })
        assert.deepStrictEqual(r.snapshot, meta)
        assert.deepStrictEqual(show(r.entries), ["2:cmd:six", "2:cmd:seven"])
        assert.deepStrictEqual(yield* h.entryIndices(loc), [6, 7])
      })
    )

    it.live("a partial incoming snapshot is discarded by a new offset-0 chunk and by a restart", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        const a: SnapshotMeta = { index: 5, term: 1, size: 100 }
        const b: SnapshotMeta = { index: 8, term: 2, size: 4 }
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 10))])
            yield* s.writeSnapshotChunk(chunk(2, a, 0, "partial-a", false))
            yield* s.writeSnapshotChunk(chunk(3, b, 0, "bb", false))
            yield* s.writeSnapshotChunk(chunk(4, b, 2, "BB", true))
            assert.strictEqual(yield* collect(s.openSnapshot(b)), "bbBB")
            // The offset-0 chunk of b removed a's partial file.
            assert.strictEqual((yield* h.snapshotFiles(loc)).length, 1)
            // A restart of the same snapshot discards what was received so far.
            yield* s.writeSnapshotChunk(chunk(5, a, 0, "stale", false))
          })
        )
        const r = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(r.snapshot, b)
        assert.deepStrictEqual(show(r.entries), shown(9, 10))
        // The reopen removed the partial temp file; only the installed snapshot remains.
        const files = yield* h.snapshotFiles(loc)
        assert.strictEqual(files.length, 1, files.join(", "))
        assert.match(files[0]!, /^snap-8-2-.*\.snap$/)
      })
    )

    it.live("a data dir of another cluster or node is refused and left untouched", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.andThen(
            s.write([persist(1, 1, numbered(1, 3), { term: 1, vote: 1 })]),
            s.saveSnapshot({ index: 2, term: 1 }, Stream.make(text.encode("s")))
          )
        )
        const before = yield* h.fingerprint(loc)
        const otherCluster = yield* Effect.flip(
          withStore(h, loc, (s) => s.load, { clusterId: "beta", nodeId: 1 })
        )
        const otherNode = yield* Effect.flip(
          withStore(h, loc, (s) => s.load, { clusterId: "alpha", nodeId: 2 })
        )
        assert.strictEqual(yield* h.fingerprint(loc), before)
        assert.strictEqual(otherCluster._tag, "DataDirMismatch")
        assert.strictEqual(otherNode._tag, "DataDirMismatch")
        assert.include(otherCluster.message, `cluster "alpha" node 1`)
        assert.include(otherCluster.message, `cluster "beta" node 1`)
        assert.include(otherNode.message, `cluster "alpha" node 2`)
        assert.include(otherNode.message, h.dataDir(loc))
        const r = yield* withStore(h, loc, (s) => s.load)
        assert.deepStrictEqual(show(r.entries), shown(3, 3))
      })
    )

    it.live("a corrupt entry value is reported with its key", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) => s.write([persist(1, 1, numbered(1, 5))]))
        yield* h.putEntryRaw(loc, 3, new Uint8Array([9, 1, 2, 3, 4, 5, 6]))
        const e = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(e._tag, "CorruptDataDir")
        assert.include(e.message, "entry 3")
        assert.include(e.message, "key 010000000000000003")
        assert.include(e.message, "checksum mismatch")
        assert.include(e.message, h.dataDir(loc))
      })
    )

    it.live("a gap in the log is reported, never skipped", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) => s.write([persist(1, 1, numbered(1, 6))]))
        yield* h.delEntryRaw(loc, 4)
        const gap = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(gap._tag, "CorruptDataDir")
        assert.include(gap.message, "entries 4..4 are missing")
        yield* h.delEntryRaw(loc, 1)
        const head = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.include(head.message, "starts at 2")
      })
    )

    it.live("corrupt or missing meta records and files fail the open with the place named", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.andThen(
            s.write([persist(1, 1, numbered(1, 3))]),
            s.saveSnapshot({ index: 2, term: 1 }, Stream.make(text.encode("0123456789")))
          )
        )
        const [file] = yield* h.snapshotFiles(loc)
        yield* h.truncateFile(loc, `snapshots/${file}`, 4)
        const truncated = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(truncated._tag, "CorruptDataDir")
        assert.include(truncated.message, `snapshots/${file}`)
        assert.include(truncated.message, "holds 4 bytes but the snapshot record says 10")

        yield* h.putMetaRaw(loc, "hardState", text.encode(`{"term":-1,"vote":0}`))
        const hs = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(hs._tag, "CorruptDataDir")
        assert.include(hs.message, `key "hardState"`)

        yield* h.putMetaRaw(loc, "format", text.encode("raftkv-log/99"))
        const format = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(format._tag, "CorruptDataDir")
        assert.include(format.message, "format version 99 is not supported")
      })
    )

    it.live("a data dir whose log store vanished is reported, not re-initialised", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) => s.write([persist(1, 1, numbered(1, 3), { term: 4, vote: 1 })]))
        yield* h.removeLog(loc)
        const e = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(e._tag, "CorruptDataDir")
        assert.include(e.message, "IDENTITY shows the dir was initialised")
        // Still refused on a second attempt: the failed open did not initialise anything.
        const again = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(again._tag, "CorruptDataDir")
      })
    )

    it.live("an unwritable data dir gives DataDirUnwritable naming it", () =>
      Effect.gen(function* () {
        const loc = yield* h.unwritable
        const e = yield* Effect.flip(withStore(h, loc, (s) => s.load))
        assert.strictEqual(e._tag, "DataDirUnwritable")
        assert.include(e.message, h.dataDir(loc))
        assert.include(e.message, "not a directory")
      })
    )

    it.live("a second open of a data dir in use fails with a clear error", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* h.open(loc, ID)
            const e = yield* Effect.flip(withStore(h, loc, (s) => s.load))
            assert.strictEqual(e._tag, "StorageIOError")
            assert.include(e.message, "in use by another process")
          })
        )
      })
    )

    it.live("a write that would leave a gap is a defect (a broken core invariant), and changes nothing", () =>
      Effect.gen(function* () {
        const loc = yield* h.fresh
        yield* withStore(h, loc, (s) =>
          Effect.gen(function* () {
            yield* s.write([persist(1, 1, numbered(1, 3))])
            const exit = yield* Effect.exit(
              s.write([persist(2, 4, [entry(1, "e4")]), persist(3, 6, [entry(1, "e6")])])
            )
            assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
            assert.deepStrictEqual(show((yield* s.load).entries), shown(1, 3))
            yield* s.write([persist(4, 4, [entry(1, "e4")])])
            assert.deepStrictEqual(show((yield* s.load).entries), shown(1, 4))
          })
        )
      })
    )
  })
}
