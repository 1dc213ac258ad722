import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { encodeCommand } from "../../src/kv/command.ts"
import { defaultKvConfig } from "../../src/kv/limits.ts"
import { ApplyOutOfOrder, KvStateMachine } from "../../src/kv/state-machine.ts"
import {
  bytes,
  canonical,
  Driver,
  entry,
  noop,
  rawEntry,
  smallConfig,
  stepsArb,
  toEntries
} from "./fixtures.ts"

describe("versions", () => {
  it("starts at 1, increments on every put, and an absent key reads as undefined", () => {
    const d = new Driver()
    const s = d.open()
    expect(d.value("a")).toBeUndefined()
    expect(d.put(s, 1, "a", "x")).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 2, "a", "y")).toEqual({ _tag: "Written", version: 2 })
    expect(d.put(s, 3, "b", "z")).toEqual({ _tag: "Written", version: 1 })
    expect(d.value("a")).toEqual({ value: "y", version: 2 })
    expect(d.sm.keyCount).toBe(2)
    expect(d.sm.dataBytes).toBe(4)
  })

  it("delete makes the key absent; re-creating starts again at version 1", () => {
    const d = new Driver()
    const s = d.open()
    d.put(s, 1, "a", "x")
    d.put(s, 2, "a", "y")
    expect(d.del(s, 3, "a")).toEqual({ _tag: "Deleted", deleted: true })
    expect(d.value("a")).toBeUndefined()
    expect(d.sm.keyCount).toBe(0)
    expect(d.sm.dataBytes).toBe(0)
    expect(d.del(s, 4, "a")).toEqual({ _tag: "Deleted", deleted: false })
    expect(d.put(s, 5, "a", "z")).toEqual({ _tag: "Written", version: 1 })
  })

  it("keys are bytes: every byte value is a distinct key, stored exactly", () => {
    const d = new Driver()
    const s = d.open()
    const k1 = new Uint8Array([0, 255, 128, 10])
    const k2 = new Uint8Array([0, 255, 128, 11])
    const v = new Uint8Array([0x80, 0x81, 0x9f, 0xff, 0])
    d.run({ _tag: "Put", at: 0, session: s, seq: 1, ack: 0, key: k1, value: v })
    expect(d.sm.get(k1)?.value).toEqual(v)
    expect(d.sm.get(k2)).toBeUndefined()
    expect(d.sm.get(new Uint8Array([0, 255, 128]))).toBeUndefined()
  })

  it("a stored value does not alias a caller's buffer that may be reused", () => {
    const d = new Driver()
    const s = d.open()
    // The entry is a view into a larger (frame-like) buffer: the value must be copied.
    const frame = new Uint8Array(4096)
    const data = encodeCommand({
      _tag: "Put",
      at: 0,
      session: s,
      seq: 1,
      ack: 0,
      key: bytes("k"),
      value: bytes("v1")
    })
    frame.set(data, 100)
    d.apply(rawEntry(frame.subarray(100, 100 + data.length)))
    frame.fill(0)
    expect(d.value("k")).toEqual({ value: "v1", version: 1 })
  })
})

describe("conditional writes", () => {
  it("expectedVersion 0 writes only when absent", () => {
    const d = new Driver()
    const s = d.open()
    expect(d.put(s, 1, "a", "x", { expectedVersion: 0 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 2, "a", "y", { expectedVersion: 0 })).toEqual({
      _tag: "VersionMismatch",
      currentVersion: 1
    })
    expect(d.value("a")).toEqual({ value: "x", version: 1 })
  })

  it("a matching version writes; a mismatch carries the current version and changes nothing", () => {
    const d = new Driver()
    const s = d.open()
    d.put(s, 1, "a", "x")
    d.put(s, 2, "a", "y")
    expect(d.put(s, 3, "a", "z", { expectedVersion: 1 })).toEqual({
      _tag: "VersionMismatch",
      currentVersion: 2
    })
    expect(d.put(s, 4, "a", "z", { expectedVersion: 2 })).toEqual({ _tag: "Written", version: 3 })
    expect(d.put(s, 5, "b", "z", { expectedVersion: 4 })).toEqual({
      _tag: "VersionMismatch",
      currentVersion: 0
    })
    expect(d.value("b")).toBeUndefined()
    expect(d.value("a")).toEqual({ value: "z", version: 3 })
  })

  it("conditional deletes", () => {
    const d = new Driver()
    const s = d.open()
    d.put(s, 1, "a", "x")
    expect(d.del(s, 2, "a", { expectedVersion: 2 })).toEqual({ _tag: "VersionMismatch", currentVersion: 1 })
    expect(d.value("a")?.version).toBe(1)
    expect(d.del(s, 3, "a", { expectedVersion: 1 })).toEqual({ _tag: "Deleted", deleted: true })
    expect(d.del(s, 4, "a", { expectedVersion: 0 })).toEqual({ _tag: "Deleted", deleted: false })
    expect(d.del(s, 5, "a", { expectedVersion: 1 })).toEqual({ _tag: "VersionMismatch", currentVersion: 0 })
  })
})

describe("sessions: exactly-once", () => {
  it("OpenSession returns the entry's index as the session id", () => {
    const d = new Driver()
    d.apply(noop)
    d.apply(noop)
    expect(d.run({ _tag: "OpenSession", at: 5 })).toEqual({ _tag: "SessionOpened", session: 3 })
    expect(d.sm.sessionCount).toBe(1)
  })

  it("the same (session, seq) twice applies once and returns the original result", () => {
    const d = new Driver()
    const s = d.open()
    const first = d.put(s, 1, "a", "x")
    const retry = d.put(s, 1, "a", "x")
    expect(retry).toEqual({ _tag: "Written", version: 1 })
    expect(retry).toBe(first)
    expect(d.value("a")).toEqual({ value: "x", version: 1 })
    // Even a retry whose payload differs is answered from memory, not applied.
    expect(d.put(s, 1, "a", "other")).toBe(first)
    expect(d.value("a")?.value).toBe("x")
  })

  it("a remembered error result is replayed too (a mismatch is not re-evaluated)", () => {
    const d = new Driver()
    const s = d.open()
    d.put(s, 1, "a", "x")
    const mismatch = d.put(s, 2, "a", "y", { expectedVersion: 0, ack: 1 })
    expect(mismatch).toEqual({ _tag: "VersionMismatch", currentVersion: 1 })
    d.del(s, 3, "a", { ack: 1 }) // now version 0 would match, but the retry must not apply
    expect(d.put(s, 2, "a", "y", { expectedVersion: 0, ack: 1 })).toBe(mismatch)
    expect(d.value("a")).toBeUndefined()
  })

  it("a seq at or below the client's ack is stale once its result is forgotten", () => {
    const d = new Driver()
    const s = d.open()
    d.put(s, 1, "a", "1")
    d.put(s, 2, "a", "2") // ack 1: result of seq 1 forgotten
    expect(d.put(s, 1, "a", "again")).toEqual({ _tag: "StaleSequence", session: s, seq: 1 })
    expect(d.value("a")).toEqual({ value: "2", version: 2 })
  })

  it("pipelined writes in any order within the window are each applied once", () => {
    const d = new Driver({ sessionResultWindow: 8 })
    const s = d.open()
    // seqs 1..4 in flight (ack 0); 3 arrives first, 1 is retried, 2 was dropped by the leader.
    expect(d.put(s, 3, "c", "3", { ack: 0 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 1, "a", "1", { ack: 0 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 4, "c", "4", { ack: 0 })).toEqual({ _tag: "Written", version: 2 })
    expect(d.put(s, 1, "a", "1", { ack: 0 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 2, "b", "2", { ack: 1 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 3, "c", "3", { ack: 1 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.value("c")).toEqual({ value: "4", version: 2 })
  })

  it("the result window is bounded: older seqs become stale, never re-applied", () => {
    const d = new Driver({ sessionResultWindow: 2 })
    const s = d.open()
    for (let seq = 1; seq <= 5; seq++) d.put(s, seq, "k", String(seq), { ack: 0 })
    expect(d.put(s, 5, "k", "x", { ack: 0 })).toEqual({ _tag: "Written", version: 5 })
    expect(d.put(s, 4, "k", "x", { ack: 0 })).toEqual({ _tag: "Written", version: 4 })
    expect(d.put(s, 3, "k", "x", { ack: 0 })).toEqual({ _tag: "StaleSequence", session: s, seq: 3 })
    expect(d.put(s, 1, "k", "x", { ack: 0 })).toEqual({ _tag: "StaleSequence", session: s, seq: 1 })
    expect(d.value("k")).toEqual({ value: "5", version: 5 })
  })

  it("writes applied out of seq order keep every unacknowledged result (a late retry is replayed)", () => {
    const d = new Driver({ sessionResultWindow: 4 })
    const s = d.open()
    // After a failover seqs 3, 1, 2 apply in that order; then 4 and 5 arrive with ack 2.
    d.put(s, 3, "c", "3", { ack: 0 })
    d.put(s, 1, "a", "1", { ack: 0 })
    d.put(s, 2, "b", "2", { ack: 0 })
    d.put(s, 4, "d", "4", { ack: 2 })
    const five = d.put(s, 5, "e", "5", { ack: 2 })
    expect(five).toEqual({ _tag: "Written", version: 1 })
    // Seq 3 was never acknowledged by the client: its retry must get the original result.
    expect(d.put(s, 3, "c", "3", { ack: 2 })).toEqual({ _tag: "Written", version: 1 })
    expect(d.value("c")).toEqual({ value: "3", version: 1 })
    // Seqs at or below the ack are forgotten and stale.
    expect(d.put(s, 1, "a", "1", { ack: 2 })).toEqual({ _tag: "StaleSequence", session: s, seq: 1 })
  })

  it("sessions are independent", () => {
    const d = new Driver()
    const s1 = d.open()
    const s2 = d.open()
    d.put(s1, 1, "a", "x")
    expect(d.put(s2, 1, "a", "y")).toEqual({ _tag: "Written", version: 2 })
  })

  it("a write on an unknown or closed session is SessionExpired and changes nothing", () => {
    const d = new Driver()
    expect(d.put(42, 1, "a", "x")).toEqual({ _tag: "SessionExpired", session: 42 })
    const s = d.open()
    d.put(s, 1, "a", "x")
    expect(d.run({ _tag: "CloseSession", at: 0, session: s })).toEqual({
      _tag: "SessionClosed",
      closed: true
    })
    expect(d.run({ _tag: "CloseSession", at: 0, session: s })).toEqual({
      _tag: "SessionClosed",
      closed: false
    })
    expect(d.put(s, 1, "a", "x")).toEqual({ _tag: "SessionExpired", session: s })
    expect(d.value("a")?.version).toBe(1)
    expect(d.sm.sessionCount).toBe(0)
  })

  it("opening more than maxSessions evicts the least recently active", () => {
    const d = new Driver({ maxSessions: 3 })
    const a = d.open(0)
    const b = d.open(1)
    const c = d.open(2)
    d.put(a, 1, "k", "x", { at: 3 }) // a opened first but was active since: b is the oldest now
    const e = d.open(4)
    expect(d.sm.sessionCount).toBe(3)
    expect(d.put(b, 1, "k", "y", { at: 5 })).toEqual({ _tag: "SessionExpired", session: b })
    d.put(e, 1, "k", "z", { at: 6 })
    d.open(7) // now c is the least recently active
    expect(d.put(c, 1, "k", "y", { at: 8 })).toEqual({ _tag: "SessionExpired", session: c })
    expect(d.put(a, 2, "k", "y", { at: 9 })._tag).toBe("Written")
    expect(d.put(e, 2, "k", "z", { at: 10 })._tag).toBe("Written")
  })
})

describe("sessions: expiry in log time", () => {
  const ttl = 1000

  it("a session idle for more than the ttl (by entry timestamps) expires; activity keeps it", () => {
    const d = new Driver({ sessionTtlMs: ttl })
    const s = d.open(0)
    expect(d.put(s, 1, "a", "x", { at: 1000 })._tag).toBe("Written") // idle exactly ttl: alive
    expect(d.put(s, 2, "a", "x", { at: 1900 })._tag).toBe("Written")
    expect(d.put(s, 3, "a", "x", { at: 2901 })).toEqual({ _tag: "SessionExpired", session: s })
    expect(d.sm.sessionCount).toBe(0)
    expect(d.value("a")?.version).toBe(2)
  })

  it("expiry is triggered by any later entry, and a retry after expiry is not replayed", () => {
    const d = new Driver({ sessionTtlMs: ttl })
    const s = d.open(0)
    d.put(s, 1, "a", "x", { at: 10 })
    const other = d.open(5000) // only log time moved, through another client's entry
    expect(d.sm.sessionCount).toBe(1)
    expect(d.put(s, 1, "a", "x", { at: 5001 })).toEqual({ _tag: "SessionExpired", session: s })
    expect(d.put(other, 1, "a", "y", { at: 5002 })).toEqual({ _tag: "Written", version: 2 })
  })

  it("log time never goes back: a lagging leader clock cannot revive or extend a session", () => {
    const d = new Driver({ sessionTtlMs: ttl })
    const s = d.open(0)
    const t = d.open(2000) // s expires here
    expect(d.sm.logTime).toBe(2000)
    expect(d.put(s, 1, "a", "x", { at: 500 })).toEqual({ _tag: "SessionExpired", session: s })
    d.put(t, 1, "a", "x", { at: 100 }) // stamped in the past: counts as 2000
    expect(d.sm.logTime).toBe(2000)
    expect(d.put(t, 2, "a", "y", { at: 3000 })._tag).toBe("Written")
    expect(d.put(t, 3, "a", "z", { at: 4001 })).toEqual({ _tag: "SessionExpired", session: t })
  })

  it("wall-clock time of the replica plays no part: many sessions expire identically on two replicas", () => {
    const entries = [
      ...Array.from({ length: 20 }, (_, i) => entry({ _tag: "OpenSession", at: i * 100 })),
      ...Array.from({ length: 20 }, (_, i) =>
        entry({
          _tag: "Put",
          at: 1500 + i * 10,
          session: 1 + i * 3,
          seq: 1,
          ack: 0,
          key: bytes("k"),
          value: bytes("v")
        })
      )
    ]
    const a = new Driver({ sessionTtlMs: ttl })
    const b = new Driver({ sessionTtlMs: ttl })
    const ra = entries.map((e) => a.apply(e))
    // Replica b applies the same entries at another moment, in another process-time.
    const rb = entries.map((e) => b.apply(e))
    expect(rb).toEqual(ra)
    expect(ra.filter((r) => r._tag === "SessionExpired").length).toBeGreaterThan(0)
    expect(ra.filter((r) => r._tag === "Written").length).toBeGreaterThan(0)
    expect(canonical(b.sm)).toEqual(canonical(a.sm))
  })
})

describe("limits", () => {
  it("defaults are 4 KiB keys and 1 MiB values", () => {
    expect(defaultKvConfig.maxKeyBytes).toBe(4096)
    expect(defaultKvConfig.maxValueBytes).toBe(1024 * 1024)
  })

  it("a key or value over the limit is rejected with its size and limit; at the limit it fits", () => {
    const d = new Driver({ maxKeyBytes: 4, maxValueBytes: 8 })
    const s = d.open()
    expect(d.put(s, 1, "abcd", "12345678")).toEqual({ _tag: "Written", version: 1 })
    expect(d.put(s, 2, "abcde", "1")).toEqual({ _tag: "KeyTooLarge", size: 5, limit: 4 })
    expect(d.put(s, 3, "abc", "123456789")).toEqual({ _tag: "ValueTooLarge", size: 9, limit: 8 })
    expect(d.del(s, 4, "abcde", { ack: 2 })).toEqual({ _tag: "KeyTooLarge", size: 5, limit: 4 })
    expect(d.sm.keyCount).toBe(1)
    // The rejection is remembered like any result.
    expect(d.put(s, 3, "abc", "123456789", { ack: 2 })).toEqual({ _tag: "ValueTooLarge", size: 9, limit: 8 })
  })
})

describe("robustness and determinism", () => {
  it("a payload that does not decode is a no-op error result, identical on every replica", () => {
    const a = new Driver()
    const b = new Driver()
    for (const d of [a, b]) d.open()
    const bad = [
      new Uint8Array(0),
      new Uint8Array([0x13]),
      new Uint8Array([0xff, 1, 2]),
      new Uint8Array([0x12, 0x80])
    ]
    for (const data of bad) {
      const ra = a.apply(rawEntry(data))
      expect(ra._tag).toBe("InvalidCommand")
      expect(b.apply(rawEntry(data))).toEqual(ra)
    }
    expect(a.sm.appliedIndex).toBe(1 + bad.length)
    expect(canonical(a.sm)).toEqual(canonical(b.sm))
    expect(a.sm.keyCount).toBe(0)
  })

  it("noop entries only advance the applied index", () => {
    const d = new Driver()
    expect(d.apply(noop)).toEqual({ _tag: "Noop" })
    expect(d.sm.appliedIndex).toBe(1)
    expect(d.sm.keyCount + d.sm.sessionCount).toBe(0)
  })

  it("applying out of order is a defect", () => {
    const sm = new KvStateMachine()
    expect(() => sm.apply(2, noop)).toThrow(ApplyOutOfOrder)
    sm.apply(1, noop)
    expect(() => sm.apply(1, noop)).toThrow(ApplyOutOfOrder)
  })

  it("rejects a config that is not positive integers", () => {
    expect(() => new KvStateMachine({ sessionTtlMs: 0 })).toThrow(RangeError)
    expect(() => new KvStateMachine({ maxValueBytes: 1.5 })).toThrow(RangeError)
  })

  it("property: two replicas fed the same random entries give the same results and state", () => {
    fc.assert(
      fc.property(stepsArb(80), (steps) => {
        const entries = toEntries(steps)
        const a = new Driver(smallConfig)
        const b = new Driver(smallConfig)
        const ra = entries.map((e) => a.apply(e))
        const rb = entries.map((e) => b.apply(e))
        expect(rb).toEqual(ra)
        expect(canonical(b.sm)).toEqual(canonical(a.sm))
      }),
      { numRuns: 200 }
    )
  })

  it("property: never throws on arbitrary payloads, and nothing but OpenSession changes an empty store", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 30 }), (payloads) => {
        const d = new Driver()
        for (const p of payloads) {
          const r = d.apply(rawEntry(p))
          expect(["InvalidCommand", "SessionExpired", "SessionOpened", "SessionClosed"]).toContain(r._tag)
        }
        expect(d.sm.keyCount).toBe(0)
      }),
      { numRuns: 300 }
    )
  })
})
