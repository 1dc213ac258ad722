import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { SnapshotInProgress, SnapshotInvalid } from "../../src/kv/snapshot.ts"
import { KvStateMachine } from "../../src/kv/state-machine.ts"
import {
  bytes,
  canonical,
  concat,
  Driver,
  rechunk,
  simpleWorkload,
  smallConfig,
  stepsArb,
  toEntries
} from "./fixtures.ts"

/** A store with a few keys, a session with remembered results, and a big value. */
const sample = (): Driver => {
  const d = new Driver()
  const s = d.open(1000)
  d.put(s, 1, "alpha", "1", { at: 1001 })
  d.put(s, 2, "beta", "2", { at: 1002, ack: 0 })
  d.del(s, 3, "alpha", { at: 1003, ack: 0 })
  d.put(s, 4, "gamma", "x".repeat(200_000), { at: 1004, ack: 0, expectedVersion: 0 })
  d.open(1005)
  d.apply({ term: 3, kind: "noop", data: new Uint8Array(0) }) // a new leader's term-start entry
  return d
}

const restored = (chunks: Iterable<Uint8Array>, config = {}): KvStateMachine => {
  const sm = new KvStateMachine(config)
  const error = sm.restore(chunks)
  if (error !== undefined) throw error
  return sm
}

describe("snapshot format", () => {
  it("round trip: data, versions, sessions (with remembered results), applied index and log time", () => {
    const d = sample()
    const copy = new Driver({}, restored(d.sm.snapshot()))
    expect(canonical(copy.sm)).toEqual(canonical(d.sm))
    expect(copy.sm.appliedIndex).toBe(d.sm.appliedIndex)
    expect(copy.sm.logTime).toBe(1005)
    expect(copy.sm.appliedTerm).toBe(3)
    expect(d.sm.snapshot().appliedTerm).toBe(3)
    expect(copy.sm.keyCount).toBe(2)
    expect(copy.sm.sessionCount).toBe(2)
    expect(copy.sm.dataBytes).toBe(d.sm.dataBytes)
    expect(copy.value("beta")).toEqual({ value: "2", version: 1 })
    expect(copy.value("gamma")?.value?.length).toBe(200_000)
    expect(copy.value("alpha")).toBeUndefined()
    // Remembered results survive: retries of seq 2 and 4 replay, nothing is applied twice.
    expect(copy.put(1, 2, "beta", "again", { at: 1006, ack: 0 })).toEqual({ _tag: "Written", version: 1 })
    expect(copy.put(1, 4, "gamma", "y", { at: 1006, ack: 0, expectedVersion: 0 })).toEqual({
      _tag: "Written",
      version: 1
    })
    expect(copy.value("beta")?.value).toBe("2")
  })

  it("chunks are at most chunkBytes; a big value spans several; any re-chunking restores", () => {
    const d = sample()
    const chunks = [...d.sm.snapshot({ chunkBytes: 4096 })]
    expect(chunks.length).toBeGreaterThan(40)
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(4096)
    const whole = concat(chunks)
    expect(concat([...d.sm.snapshot()])).toEqual(whole) // independent of the chunk size
    for (const cuts of [[], [1], [2, 3, 4, 5, 6], [7, 9, 13, 100_000], [whole.length - 1]]) {
      expect(canonical(restored(rechunk(whole, cuts)))).toEqual(canonical(d.sm))
    }
    const bytewise = Array.from({ length: 300 }, (_, i) => i + 1)
    expect(canonical(restored(rechunk(whole, bytewise)))).toEqual(canonical(d.sm))
  })

  it("many sessions keep their order, remembered results and floors", () => {
    const d = new Driver({ sessionResultWindow: 4 })
    const ids = Array.from({ length: 300 }, (_, i) => d.open(i))
    ids.forEach((s, i) => {
      d.put(s, 1, `k${i % 7}`, "a", { at: 300 + i, ack: 0 })
      d.put(s, 2, `k${i % 7}`, "b", { at: 300 + i, ack: 0 })
    })
    const copy = new Driver({ sessionResultWindow: 4 }, restored(d.sm.snapshot({ chunkBytes: 100 })))
    expect(canonical(copy.sm)).toEqual(canonical(d.sm))
    for (const x of [d, copy]) {
      expect(x.put(ids[5]!, 2, "k5", "retry", { at: 700, ack: 0 })).toEqual({ _tag: "Written", version: 2 })
      expect(x.put(ids[6]!, 3, "other", "x", { at: 700, ack: 2 })._tag).toBe("Written")
      expect(x.put(ids[6]!, 1, "other", "x", { at: 700, ack: 2 })._tag).toBe("StaleSequence")
    }
    expect(canonical(copy.sm)).toEqual(canonical(d.sm))
  })

  it("an empty store round-trips", () => {
    const empty = new KvStateMachine()
    const copy = restored(empty.snapshot())
    expect(copy.appliedIndex).toBe(0)
    expect(copy.keyCount + copy.sessionCount).toBe(0)
  })

  it("restoring does not alias the input chunks", () => {
    const d = sample()
    const chunks = [...d.sm.snapshot()]
    const copy = restored(chunks)
    for (const c of chunks) c.fill(0)
    expect(new Driver({}, copy).value("beta")).toEqual({ value: "2", version: 1 })
  })

  it("restoreAsync reads an async chunk source", async () => {
    const d = sample()
    const chunks = [...d.sm.snapshot({ chunkBytes: 1000 })]
    async function* source() {
      for (const c of chunks) yield c
    }
    const sm = new KvStateMachine()
    expect(await sm.restoreAsync(source())).toBeUndefined()
    expect(canonical(sm)).toEqual(canonical(d.sm))
  })
})

describe("snapshot validation", () => {
  const whole = concat([...sample().sm.snapshot()])

  it("every truncation is rejected, and the target keeps its state", () => {
    const target = new Driver()
    const s = target.open(1)
    target.put(s, 1, "mine", "kept", { at: 2 })
    const before = canonical(target.sm)
    const cuts = [0, 1, 4, 5, 8, 9, 20, 40, 1000, whole.length - 5, whole.length - 4, whole.length - 1]
    for (const cut of cuts) {
      const error = target.sm.restore([whole.subarray(0, cut)])
      expect(error).toBeInstanceOf(SnapshotInvalid)
    }
    expect(canonical(target.sm)).toEqual(before)
  })

  it("property: any single corrupted byte is rejected", () => {
    fc.assert(
      fc.property(fc.nat(whole.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const bad = whole.slice()
        bad[at]! ^= xor
        expect(new KvStateMachine().restore([bad])).toBeInstanceOf(SnapshotInvalid)
      }),
      { numRuns: 300 }
    )
  })

  it("trailing data, wrong magic and garbage are rejected with a reason", () => {
    const trailing = new KvStateMachine().restore([whole, new Uint8Array([0])])
    expect(trailing?.reason).toMatch(/after the end/)
    expect(new KvStateMachine().restore([bytes("hello world")])?.reason).toMatch(/magic/)
    const hugeLength = concat([whole.subarray(0, 5), new Uint8Array([0xff, 0xff, 0xff, 0xff])])
    expect(new KvStateMachine().restore([hugeLength])?.reason).toMatch(/record length/)
  })

  it("property: random bytes never throw and never restore", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const withMagic = concat([whole.subarray(0, 5), data])
        expect(new KvStateMachine().restore([withMagic])).toBeInstanceOf(SnapshotInvalid)
      }),
      { numRuns: 300 }
    )
  })

  it("a restorer is single use", () => {
    const r = new KvStateMachine().beginRestore()
    expect(r.push(whole)).toBeUndefined()
    expect(r.finish()).toBeUndefined()
    expect(r.finish()).toBeInstanceOf(SnapshotInvalid)
    expect(r.push(whole)).toBeInstanceOf(SnapshotInvalid)
  })
})

describe("snapshot consistency", () => {
  it("property: snapshot, restore, apply more == apply everything without a snapshot", () => {
    fc.assert(
      fc.property(stepsArb(60), stepsArb(60), (before, after) => {
        const entries = toEntries([...before, ...after])
        const cut = before.length
        const straight = new Driver(smallConfig)
        const results = entries.map((e) => straight.apply(e))

        const first = new Driver(smallConfig)
        for (const e of entries.slice(0, cut)) first.apply(e)
        const second = new Driver(smallConfig, restored(first.sm.snapshot({ chunkBytes: 64 }), smallConfig))
        expect(entries.slice(cut).map((e) => second.apply(e))).toEqual(results.slice(cut))
        // Same state, same table order: byte-identical snapshots.
        expect(concat([...second.sm.snapshot()])).toEqual(concat([...straight.sm.snapshot()]))
      }),
      { numRuns: 200 }
    )
  })

  it("property: applying while a snapshot streams does not change what it captures", () => {
    fc.assert(
      fc.property(stepsArb(60, 1), stepsArb(60), fc.nat(3), (before, after, perChunk) => {
        const entries = toEntries([...before, ...after])
        const cut = before.length
        const live = new Driver(smallConfig)
        const frozen = new Driver(smallConfig)
        entries.slice(0, cut).forEach((e) => {
          live.apply(e)
          frozen.apply(e)
        })
        const stream = live.sm.snapshot({ chunkBytes: 64 })
        const chunks: Array<Uint8Array> = []
        let next = cut
        for (const chunk of stream) {
          chunks.push(chunk)
          for (let i = 0; i <= perChunk && next < entries.length; i++) live.apply(entries[next++]!)
        }
        expect(stream.appliedIndex).toBe(cut)
        expect(canonical(restored(chunks, smallConfig))).toEqual(canonical(frozen.sm))
      }),
      { numRuns: 200 }
    )
  })

  it("property: a point-in-time view under heavy overwrites (simple workload)", () => {
    fc.assert(
      fc.property(simpleWorkload(30), fc.nat(100), fc.nat(4), (entries, percent, perChunk) => {
        const cut = Math.floor((entries.length * percent) / 100)
        const live = new Driver()
        const frozen = new Driver()
        for (const e of entries.slice(0, cut)) {
          live.apply(e)
          frozen.apply(e)
        }
        const chunks: Array<Uint8Array> = []
        let next = cut
        for (const chunk of live.sm.snapshot({ chunkBytes: 64 })) {
          chunks.push(chunk)
          for (let i = 0; i <= perChunk && next < entries.length; i++) live.apply(entries[next++]!)
        }
        expect(canonical(restored(chunks))).toEqual(canonical(frozen.sm))
      }),
      { numRuns: 300 }
    )
  })

  it("overwrites and deletes during a stream: every key appears once with its value at the start", () => {
    const d = new Driver()
    const s = d.open()
    for (let i = 0; i < 500; i++) d.put(s, i + 1, `k${i}`, `v${i}`)
    const expected = canonical(d.sm)
    const stream = d.sm.snapshot({ chunkBytes: 256 })
    const chunks = [stream.next().value!]
    let seq = 501
    for (let i = 499; i >= 0; i -= 2) d.del(s, seq++, `k${i}`) // ahead of the walk
    for (let i = 0; i < 500; i += 2) d.put(s, seq++, `k${i}`, "new") // some behind it
    for (let i = 0; i < 50; i++) d.put(s, seq++, `fresh${i}`, "x")
    for (let i = 0; i < 100; i += 2) d.del(s, seq++, `k${i}`)
    for (let i = 0; i < 100; i += 2) d.put(s, seq++, `k${i}`, "again")
    chunks.push(...stream)
    const copy = restored(chunks)
    expect(copy.keyCount).toBe(500)
    expect(canonical(copy)).toEqual(expected)
    expect(d.sm.keyCount).toBe(300)
  })

  it("one stream at a time; close() or consuming it ends it", () => {
    const d = sample()
    const stream = d.sm.snapshot()
    expect(() => d.sm.snapshot()).toThrow(SnapshotInProgress)
    stream.close()
    const again = d.sm.snapshot()
    ;[...again]
    expect(() => d.sm.snapshot().close()).not.toThrow()
    const broken = d.sm.snapshot({ chunkBytes: 64 })
    for (const _ of broken) break // for-of calls return()
    expect(() => d.sm.snapshot().close()).not.toThrow()
  })

  it("a stream over a replaced state stays consistent after a restore", () => {
    const d = sample()
    const expected = canonical(d.sm)
    const stream = d.sm.snapshot({ chunkBytes: 128 })
    const first = stream.next().value!
    expect(d.sm.restore(new KvStateMachine().snapshot())).toBeUndefined()
    expect(d.sm.keyCount).toBe(0)
    expect(canonical(restored([first, ...stream]))).toEqual(expected)
  })
})
