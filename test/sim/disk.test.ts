import { describe, expect, it } from "vitest"
import type { Entry, Persist, PersistSnapshotChunk, SnapshotMeta } from "../../src/core/index.ts"
import { Disk } from "./disk.ts"
import { applyHash, emptyMachine, parseSnapshot, serializeSnapshot } from "./statemachine.ts"

const entry = (term: number, tag = 0): Entry => ({ term, kind: "command", data: new Uint8Array([term, tag]) })
const persist = (writeId: number, from: number, entries: Entry[]): Persist => ({
  _tag: "Persist",
  writeId,
  hardState: undefined,
  log: { from, entries }
})
const chunk = (
  meta: SnapshotMeta,
  offset: number,
  data: Uint8Array,
  done: boolean,
  keepLog = false
): PersistSnapshotChunk => ({
  _tag: "PersistSnapshotChunk",
  writeId: 0,
  snapshot: meta,
  offset,
  data,
  done,
  keepLog
})

const terms = (d: Disk): number[] => d.entries.map((e) => e.term)

describe("Disk (simulated durable storage)", () => {
  it("applies a log write by truncating at `from` and appending", () => {
    const d = new Disk()
    expect(d.applyPersist(persist(1, 1, [entry(1), entry(1), entry(1)]))).toBeUndefined()
    expect(d.applyPersist(persist(2, 2, [entry(2)]))).toBeUndefined()
    expect(terms(d)).toEqual([1, 2])
    expect(
      d.applyPersist({ _tag: "Persist", writeId: 3, hardState: { term: 2, vote: 3 }, log: undefined })
    ).toBeUndefined()
    expect(d.hardState).toEqual({ term: 2, vote: 3 })
  })

  it("reports a write that would leave a gap in the log", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1)]))
    expect(d.applyPersist(persist(2, 3, [entry(1)]))).toMatch(/gap/)
  })

  it("refuses to compact beyond the durable snapshot, and compacts up to it", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1), entry(1), entry(2), entry(2)]))
    expect(d.compact(2)).toMatch(/durable snapshot/)
    const meta = { index: 3, term: 2, size: 40 }
    d.saveLocalSnapshot({ meta, data: new Uint8Array(40) })
    expect(d.compact(3)).toBeUndefined()
    expect(d.prevIndex).toBe(3)
    expect(terms(d)).toEqual([2])
    const r = d.restored()
    expect(r.snapshot).toEqual(meta)
    expect(r.entries.map((e) => e.term)).toEqual([2])
  })

  it("skips the compacted part of a write that lands after compaction", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1)]))
    d.saveLocalSnapshot({ meta: { index: 3, term: 1, size: 30 }, data: new Uint8Array(30) })
    d.compact(3)
    expect(d.applyPersist(persist(2, 2, [entry(1), entry(1), entry(1), entry(1)]))).toBeUndefined()
    expect(d.lastIndex()).toBe(5)
    expect(d.restored().entries).toHaveLength(2)
  })

  it("installs a chunked snapshot only when every byte arrived in order", () => {
    const meta = { index: 5, term: 2, size: 10 }
    const bytes = Uint8Array.from({ length: 10 }, (_, k) => k)
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1), entry(1)]))
    expect(d.applySnapshotChunk(chunk(meta, 0, bytes.subarray(0, 4), false))).toBeUndefined()
    // A chunk that skips bytes 4-5 does not count as contiguous.
    expect(d.applySnapshotChunk(chunk(meta, 6, bytes.subarray(6), true))).toMatch(/only 4 of 10/)

    const ok = new Disk()
    ok.applyPersist(persist(1, 1, [entry(1), entry(1)]))
    ok.applySnapshotChunk(chunk(meta, 0, bytes.subarray(0, 4), false))
    expect(ok.applySnapshotChunk(chunk(meta, 4, bytes.subarray(4), true))).toBeUndefined()
    expect(ok.snapshot?.data).toEqual(bytes)
    expect(ok.entries).toHaveLength(0)
    expect(ok.prevIndex).toBe(5)
    expect(ok.readSnapshot(meta, 2, 3)).toEqual(Uint8Array.from([2, 3, 4]))
  })

  it("keeps the log after an installed snapshot when asked and the log chains to it", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1), entry(2), entry(2), entry(3)]))
    const meta = { index: 2, term: 2, size: 4 }
    expect(d.applySnapshotChunk(chunk(meta, 0, new Uint8Array(4), true, true))).toBeUndefined()
    expect(d.prevIndex).toBe(2)
    expect(terms(d)).toEqual([2, 3])
    const bad = new Disk()
    bad.applyPersist(persist(1, 1, [entry(1), entry(1)]))
    expect(bad.applySnapshotChunk(chunk(meta, 0, new Uint8Array(4), true, true))).toMatch(/keepLog/)
  })

  it("drops, at restart, a stale log suffix that does not chain to the snapshot", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1), entry(2), entry(2)]))
    // The state machine applied (2, term 3) from a write that never became durable, then
    // snapshotted it: the durable (2, term 2) and (3, term 2) are from another history.
    d.saveLocalSnapshot({ meta: { index: 2, term: 3, size: 20 }, data: new Uint8Array(20) })
    const r = d.restored()
    expect(r.entries).toHaveLength(0)
    expect(d.droppedUnchainedLogs).toBe(1)
    // The tidied log continues the snapshot, so the next write lands right after it.
    expect(d.applyPersist(persist(2, 3, [entry(3)]))).toBeUndefined()
    expect(d.restored().entries.map((x) => x.term)).toEqual([3])
  })

  it("continues after the snapshot when a queued compaction was lost in a crash", () => {
    const d = new Disk()
    d.applyPersist(persist(1, 1, [entry(1), entry(1)]))
    d.saveLocalSnapshot({ meta: { index: 4, term: 1, size: 20 }, data: new Uint8Array(20) })
    expect(d.restored().entries).toHaveLength(0)
    expect(d.applyPersist(persist(2, 5, [entry(2)]))).toBeUndefined()
    expect(d.lastIndex()).toBe(5)
  })
})

describe("simulated state machine snapshots", () => {
  it("round-trip and detect corruption", () => {
    let m = emptyMachine
    for (let i = 1; i <= 5; i++) {
      const e = entry(1, i)
      m = { applied: i, term: e.term, hash: applyHash(m.hash, i, e) }
    }
    const data = serializeSnapshot(m, 100)
    expect(data.length).toBe(100)
    expect(parseSnapshot(data)).toEqual(m)
    const corrupt = data.slice()
    corrupt[60] = corrupt[60]! ^ 1
    expect(parseSnapshot(corrupt)).toMatch(/corrupt at byte 60/)
    expect(parseSnapshot(data.subarray(0, 50))).toMatch(/size/)
  })

  it("hashes whole histories: a different entry anywhere gives a different state", () => {
    const run = (entries: Entry[]): number => entries.reduce((h, e, k) => applyHash(h, k + 1, e), 0)
    const a = [entry(1, 1), entry(1, 2), entry(2, 3)]
    const b = [entry(1, 1), entry(1, 9), entry(2, 3)]
    expect(run(a)).toBe(run(a))
    expect(run(a)).not.toBe(run(b))
  })
})
