import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { bruteForceLinearizable } from "./bruteforce.ts"
import type { CheckResult, HistoryRecord, Op, Result } from "./checker.ts"
import { absent, checkHistory, del, deleted, found, get, mismatch, put, written } from "./checker.ts"
import { generateHistory } from "./generate.ts"

/** A completed op: client, key, op, [call, ret], result. */
const op = (
  clientId: number,
  key: string,
  o: Op,
  call: number,
  ret: number,
  result: Result
): HistoryRecord => ({
  clientId,
  key,
  op: o,
  call,
  ret,
  result
})

/** An op whose client timed out: outcome unknown. */
const timedOut = (clientId: number, key: string, o: Op, call: number): HistoryRecord => ({
  clientId,
  key,
  op: o,
  call,
  ret: undefined,
  result: undefined
})

const expectOk = (h: ReadonlyArray<HistoryRecord>) => {
  const r = checkHistory(h)
  expect(r.ok ? "ok" : r.explanation).toBe("ok")
  expect(bruteForceLinearizable(h)).toBe(true)
}

const expectViolation = (h: ReadonlyArray<HistoryRecord>, key = "k"): string => {
  const r = checkHistory(h)
  expect(r.status).toBe("violation")
  if (r.status !== "violation") throw new Error("unreachable")
  expect(r.ok).toBe(false)
  expect(r.key).toBe(key)
  if (h.length <= 8) expect(bruteForceLinearizable(h)).toBe(false)
  return r.explanation
}

describe("linearizable histories", () => {
  it("accepts the empty history", () => {
    expect(checkHistory([])).toEqual({ ok: true, status: "linearizable" })
  })

  it("accepts a sequential history covering every operation", () => {
    expectOk([
      op(1, "k", get, 0, 1, absent),
      op(1, "k", put("a"), 2, 3, written(1)),
      op(1, "k", get, 4, 5, found("a", 1)),
      op(1, "k", put("b", 1), 6, 7, written(2)),
      op(1, "k", put("c", 1), 8, 9, mismatch(2)),
      op(1, "k", get, 10, 11, found("b", 2)),
      op(1, "k", del(2), 12, 13, deleted(true)),
      op(1, "k", get, 14, 15, absent)
    ])
  })

  it("accepts overlapping writes whose only valid order differs from call order", () => {
    expectOk([
      op(1, "k", put("b"), 0, 10, written(2)),
      op(2, "k", put("a"), 1, 11, written(1)),
      op(3, "k", get, 2, 12, found("a", 1))
    ])
  })

  it("accepts reads that are stale in real time but overlap the newer write", () => {
    expectOk([
      op(1, "k", put("a"), 0, 5, written(1)),
      op(2, "k", put("b"), 6, 20, written(2)),
      op(3, "k", get, 7, 8, found("a", 1)),
      op(4, "k", get, 9, 10, found("b", 2)),
      op(3, "k", get, 11, 12, found("b", 2))
    ])
  })

  it("treats ops that touch at an instant as concurrent", () => {
    expectOk([op(1, "k", get, 0, 5, found("a", 1)), op(2, "k", put("a"), 5, 9, written(1))])
  })

  it("lets an overwrite that only touches a read's writer or the read itself come outside them", () => {
    // The delete starts the instant the put returns: it may come first.
    expectOk([
      op(1, "k", put("z"), 0, 1, written(1)),
      op(1, "k", put("a"), 2, 4, written(1)),
      op(2, "k", del(), 4, 6, deleted(true)),
      op(3, "k", get, 7, 8, found("a", 1))
    ])
    // The delete returns the instant the get starts: it may come after it.
    expectOk([
      op(1, "k", put("z"), 0, 1, written(1)),
      op(1, "k", put("a"), 2, 3, written(2)),
      op(2, "k", del(), 4, 6, deleted(true)),
      op(3, "k", get, 6, 8, found("a", 2))
    ])
  })

  it("checks keys independently", () => {
    expectOk([
      op(1, "x", put("a"), 0, 1, written(1)),
      op(1, "y", get, 2, 3, absent),
      op(2, "y", put("a"), 4, 5, written(1)),
      op(2, "x", get, 6, 7, found("a", 1))
    ])
  })
})

describe("non-linearizable histories", () => {
  it("rejects a read of a value never written", () => {
    const text = expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      op(2, "k", get, 2, 3, found("z", 1))
    ])
    expect(text).toContain('#1 c2 [2, 3] get -> "z" v1')
    expect(text).toContain("no put of this key wrote")
  })

  it("rejects a read that goes back in time after a later read saw a newer value", () => {
    const text = expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      op(2, "k", put("b"), 2, 20, written(2)),
      op(3, "k", get, 3, 4, found("b", 2)),
      op(4, "k", get, 5, 6, found("a", 1))
    ])
    expect(text).toContain('longest linearizable prefix found: 1 op (#0), leaving the key "a" v1')
    expect(text).toContain(
      '#1 c2 [2, 20] put "b" -> written v2: it would overwrite "a" v1, which #3 must still read'
    )
    expect(text).toContain('#2 c3 [3, 4] get -> "b" v2: the key holds "a" v1')
  })

  it("rejects two conditional puts with the same expected version both succeeding", () => {
    expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      op(1, "k", put("b", 1), 2, 10, written(2)),
      op(2, "k", put("c", 1), 3, 11, written(2))
    ])
  })

  it("rejects a lost acknowledged write", () => {
    const text = expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      op(1, "k", put("b"), 2, 3, written(2)),
      op(2, "k", get, 4, 5, found("a", 1))
    ])
    expect(text).toContain("replaced it: #1 c1 [2, 3] put")
  })

  it("rejects a version that skips a write nobody made", () => {
    expectViolation([op(1, "k", put("a"), 0, 1, written(1)), op(1, "k", put("b"), 2, 3, written(3))])
  })

  it("rejects a wrong VersionMismatch", () => {
    expectViolation([op(1, "k", put("a"), 0, 1, written(1)), op(1, "k", put("b", 0), 2, 3, mismatch(0))])
    expectViolation([op(1, "k", put("a"), 0, 1, written(1)), op(1, "k", put("b", 1), 2, 3, mismatch(1))])
    expectViolation([op(1, "k", put("a"), 0, 1, mismatch(0))])
  })

  it("reports the smallest failing key", () => {
    const r = checkHistory([
      op(1, "big", put("a"), 0, 1, written(1)),
      op(1, "big", put("b"), 2, 3, written(1)),
      op(1, "big", get, 4, 5, found("b", 1)),
      op(1, "small", get, 0, 1, found("x", 1)),
      op(1, "fine", get, 0, 1, absent)
    ])
    expect(r.status === "violation" && r.key).toBe("small")
  })
})

describe("ops with unknown outcome", () => {
  it("accepts a timed-out put whose value is later read", () => {
    expectOk([timedOut(1, "k", put("a"), 0), op(2, "k", get, 5, 6, found("a", 1))])
  })

  it("accepts a timed-out put that is never read", () => {
    expectOk([
      timedOut(1, "k", put("a"), 0),
      op(2, "k", get, 5, 6, absent),
      op(2, "k", put("b"), 7, 8, written(1)),
      op(2, "k", get, 9, 10, found("b", 1))
    ])
  })

  it("lets a timed-out op take effect long after its client gave up", () => {
    expectOk([
      { clientId: 1, key: "k", op: put("a"), call: 0, ret: 1, result: undefined },
      op(2, "k", get, 10, 11, absent),
      op(2, "k", get, 20, 21, found("a", 1))
    ])
  })

  it("fills a version gap with a timed-out put", () => {
    expectOk([
      op(1, "k", put("a"), 0, 1, written(1)),
      timedOut(2, "k", put("x"), 2),
      op(1, "k", put("b"), 3, 4, written(3))
    ])
  })

  it("uses each timed-out put at most once, even when several are interchangeable", () => {
    const gap = (pending: number) => [
      op(1, "k", put("a"), 0, 1, written(1)),
      ...Array.from({ length: pending }, (_, c) => timedOut(c + 2, "k", put(`x${c}`), 2)),
      op(1, "k", put("b"), 3, 4, written(4)),
      op(1, "k", get, 5, 6, found("b", 4))
    ]
    expectOk(gap(2))
    expectOk(gap(3))
    expectViolation(gap(1))
  })

  it("rejects a timed-out write that is seen and then un-happens", () => {
    expectViolation([
      timedOut(1, "k", put("a"), 0),
      op(2, "k", get, 5, 6, found("a", 1)),
      op(2, "k", get, 7, 8, absent)
    ])
  })

  it("accepts a timed-out delete taking effect between two reads", () => {
    const base = [
      op(1, "k", put("a"), 0, 1, written(1)),
      timedOut(1, "k", del(), 2),
      op(2, "k", get, 3, 4, found("a", 1)),
      op(2, "k", get, 5, 6, absent)
    ]
    expectOk(base)
    expectViolation([...base, op(2, "k", get, 7, 8, found("a", 1))])
  })

  it("does not let a timed-out conditional put succeed against another version", () => {
    expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      timedOut(2, "k", put("b", 0), 2),
      op(3, "k", get, 5, 6, found("b", 2))
    ])
  })

  it("ignores timed-out reads", () => {
    expectOk([timedOut(1, "k", get, 0), op(2, "k", get, 1, 2, absent)])
  })
})

describe("delete semantics", () => {
  it("restarts versions at 1 after a delete", () => {
    const base = [
      op(1, "k", put("a"), 0, 1, written(1)),
      op(1, "k", put("b"), 2, 3, written(2)),
      op(1, "k", del(), 4, 5, deleted(true)),
      op(1, "k", del(), 6, 7, deleted(false))
    ]
    expectOk([...base, op(1, "k", put("c"), 8, 9, written(1)), op(1, "k", get, 10, 11, found("c", 1))])
    expectViolation([...base, op(1, "k", put("c"), 8, 9, written(3))])
  })

  it("applies expectedVersion to deletes (0 = only if absent)", () => {
    expectOk([
      op(1, "k", del(0), 0, 1, deleted(false)),
      op(1, "k", put("a"), 2, 3, written(1)),
      op(1, "k", del(0), 4, 5, mismatch(1)),
      op(1, "k", del(2), 6, 7, mismatch(1)),
      op(1, "k", del(1), 8, 9, deleted(true)),
      op(1, "k", put("b", 0), 10, 11, written(1))
    ])
  })

  it("rejects a delete that found nothing while the key was present", () => {
    expectViolation([op(1, "k", put("a"), 0, 1, written(1)), op(1, "k", del(), 2, 3, deleted(false))])
  })

  it("rejects reading a deleted value after the delete returned", () => {
    expectViolation([
      op(1, "k", put("a"), 0, 1, written(1)),
      op(1, "k", del(), 2, 3, deleted(true)),
      op(2, "k", get, 4, 5, found("a", 1))
    ])
  })
})

describe("budget and malformed input", () => {
  // 50 clients on one key: far more than 1024 search steps (the budget check interval).
  const hard = generateHistory({ seed: 4, clients: 50, keys: 1, ops: 400 })

  it("reports unknown, never ok, when the budget runs out", () => {
    expect(checkHistory(hard).ok).toBe(true)
    const bySteps = checkHistory(hard, { maxSteps: 2000 })
    expect(bySteps).toMatchObject({ ok: false, status: "unknown", keys: ["k0"] })
    expect(checkHistory(hard, { timeoutMs: 0 })).toMatchObject({ ok: false, status: "unknown" })
  })

  it("still reports a violation on another key when one key runs out of budget", () => {
    const r = checkHistory([...hard, op(1, "other", get, 0, 1, found("a", 1))], { maxSteps: 2000 })
    expect(r).toMatchObject({ status: "violation", key: "other" })
  })

  it("rejects malformed records", () => {
    const cases: Array<HistoryRecord> = [
      op(1, "k", get, 5, 4, absent),
      op(1, "k", get, 0, 1, written(1)),
      op(1, "k", put("a"), 0, 1, found("a", 1)),
      op(1, "k", put("a", -1), 0, 1, written(1)),
      op(1, "k", put("a"), 0, 1, written(1.5)),
      op(1, "k", get, Number.NaN, 1, absent)
    ]
    for (const c of cases) {
      const r: CheckResult = checkHistory([op(2, "k", get, 0, 1, absent), c])
      expect(r.status).toBe("invalid")
      expect(r.ok === false && "explanation" in r && r.explanation).toMatch(/^record #1 /)
    }
  })
})

describe("properties", () => {
  const shape = fc.record({
    seed: fc.integer(),
    clients: fc.integer({ min: 1, max: 8 }),
    keys: fc.integer({ min: 1, max: 4 }),
    ops: fc.integer({ min: 0, max: 150 }),
    timeoutRate: fc.constantFrom(0, 0.05, 0.1),
    values: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
  })

  it("accepts every history of a real linearizable register (concurrent, with timeouts)", () => {
    fc.assert(
      fc.property(shape, (s) => {
        const h = generateHistory(s)
        const r = checkHistory(h)
        expect(r.ok ? "ok" : r.explanation).toBe("ok")
      }),
      { numRuns: 300 }
    )
  })

  it("accepts every sequential history", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 200 }), (seed, ops) => {
        const h = generateHistory({ seed, clients: 1, keys: 2, ops, values: 2 })
        expect(checkHistory(h).ok).toBe(true)
      })
    )
  })

  it("rejects a history once one get returns a value never written", () => {
    fc.assert(
      fc.property(shape, fc.nat(), (s, pick) => {
        const h = generateHistory({ ...s, ops: s.ops + 10 })
        const gets = h.flatMap((r, i) => (r.op._tag === "Get" && r.result !== undefined ? [i] : []))
        fc.pre(gets.length > 0)
        const i = gets[pick % gets.length]!
        const version = h[i]!.result?._tag === "Found" ? (h[i]!.result as { version: number }).version : 1
        const mutated = h.slice()
        mutated[i] = { ...h[i]!, result: found("never-written", version) }
        const r = checkHistory(mutated)
        expect(r).toMatchObject({ status: "violation", key: h[i]!.key })
      }),
      { numRuns: 300 }
    )
  })

  it("agrees with brute force on tiny random histories", () => {
    fc.assert(
      fc.property(tinyHistory, (h) => {
        expect(checkHistory(h).ok).toBe(bruteForceLinearizable(h))
      }),
      { numRuns: 2000 }
    )
  })

  it("agrees with brute force on tiny generated histories with one result altered", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(), anyResult, (seed, pick, res) => {
        const h = generateHistory({ seed, clients: 3, keys: 1, ops: 7, timeoutRate: 0.2, values: 2 })
        const i = pick % h.length
        const r = res(h[i]!.op)
        const altered = h.slice()
        altered[i] = { ...h[i]!, ret: h[i]!.ret ?? h[i]!.call + 1, result: r }
        expect(checkHistory(altered).ok).toBe(bruteForceLinearizable(altered))
      }),
      { numRuns: 1000 }
    )
  })
})

/** A random result fitting an op (versions kept small so that some are right). */
const anyResult = fc
  .record({ variant: fc.nat(), version: fc.integer({ min: 0, max: 3 }), value: fc.constantFrom("a", "b") })
  .map(({ variant, version, value }) => (o: Op): Result => {
    const v = variant % 2
    if (o._tag === "Get") return v === 0 ? found(value, Math.max(1, version)) : absent
    if (variant % 3 === 2) return mismatch(version)
    return o._tag === "Put" ? written(version) : deleted(v === 0)
  })

const tinyHistory: fc.Arbitrary<Array<HistoryRecord>> = fc.array(
  fc
    .record({
      clientId: fc.integer({ min: 0, max: 3 }),
      key: fc.constantFrom("x", "y"),
      kind: fc.constantFrom("get", "put", "del"),
      value: fc.constantFrom("a", "b"),
      expected: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      call: fc.integer({ min: 0, max: 12 }),
      length: fc.integer({ min: 0, max: 6 }),
      timedOut: fc.boolean(),
      result: anyResult
    })
    .map(({ clientId, key, kind, value, expected, call, length, timedOut: t, result }): HistoryRecord => {
      const o = kind === "get" ? get : kind === "put" ? put(value, expected) : del(expected)
      return t && kind !== "get" && length % 3 === 0
        ? timedOut(clientId, key, o, call)
        : op(clientId, key, o, call, call + length, result(o))
    }),
  { maxLength: 7 }
)
