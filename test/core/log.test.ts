import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Entry } from "../../src/core/index.ts"
import * as Log from "../../src/core/log.ts"

/**
 * The log is an immutable view over shared, append-only chunked storage (src/core/log.ts). These
 * properties check it against a plain-array model: every view ever produced keeps its contents
 * whatever is later done to it or to the views it shares storage with (branches after
 * truncation, appends to an old state, compaction that drops chunks), across chunk boundaries.
 */

/** A model view: the entries after (prevIndex, prevTerm). */
interface Model {
  readonly prevIndex: number
  readonly prevTerm: number
  readonly entries: ReadonlyArray<Entry>
}

let serial = 0
/** Distinct entries (the payload identifies them; the term is arbitrary for storage purposes). */
const fresh = (n: number, term: number): Entry[] =>
  Array.from({ length: n }, (_, k) => {
    serial++
    return {
      term,
      kind: (serial + k) % 5 === 0 ? "noop" : "command",
      data: Uint8Array.of(serial & 255, serial >> 8)
    }
  })

/** Indices worth comparing: all of a short log, else its ends, the chunk seams and a sample. */
const probeIndices = (m: Model): number[] => {
  const first = m.prevIndex + 1
  const last = m.prevIndex + m.entries.length
  if (m.entries.length <= 300) return Array.from({ length: m.entries.length }, (_, k) => first + k)
  const out = new Set<number>()
  for (let k = 0; k < 50; k++) {
    out.add(first + k)
    out.add(last - k)
  }
  for (let i = first; i <= last; i += 997) out.add(i)
  // Storage positions are offsets from some chunk start: probe around every 2^15-aligned index.
  for (let b = Math.ceil(first / 32768) * 32768; b <= last + 1; b += 32768) {
    for (let d = -2; d <= 2; d++) if (b + d >= first && b + d <= last) out.add(b + d)
  }
  return [...out]
}

const expectSame = (log: Log.RaftLog, m: Model): void => {
  expect(log.prevIndex).toBe(m.prevIndex)
  expect(Log.lastIndex(log)).toBe(m.prevIndex + m.entries.length)
  expect(Log.termAt(log, m.prevIndex)).toBe(m.prevTerm)
  expect(Log.termAt(log, m.prevIndex + m.entries.length + 1)).toBeUndefined()
  for (const i of probeIndices(m)) {
    const want = m.entries[i - m.prevIndex - 1]!
    expect(Log.entryAt(log, i)).toEqual(want)
    expect(Log.termAt(log, i)).toBe(want.term)
  }
}

type Op =
  | { readonly kind: "append"; readonly view: number; readonly n: number }
  | { readonly kind: "truncate"; readonly view: number; readonly at: number }
  | { readonly kind: "compact"; readonly view: number; readonly at: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("append" as const),
    view: fc.nat(),
    n: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 200, max: 40_000 }))
  }),
  fc.record({
    kind: fc.constant("truncate" as const),
    view: fc.nat(),
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
  }),
  fc.record({
    kind: fc.constant("compact" as const),
    view: fc.nat(),
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
  })
)

describe("log storage (views over shared chunked storage)", () => {
  it("every view keeps its contents whatever is done to it or to views sharing its storage", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 14 }), (ops) => {
        const views: Array<{ log: Log.RaftLog; model: Model }> = [
          { log: Log.emptyLog(), model: { prevIndex: 0, prevTerm: 0, entries: [] } }
        ]
        let term = 1
        for (const o of ops) {
          const { log, model } = views[o.view % views.length]!
          const lastIndex = model.prevIndex + model.entries.length
          if (o.kind === "append") {
            const added = fresh(o.n, term++)
            views.push({
              log: Log.append(log, added),
              model: { ...model, entries: [...model.entries, ...added] }
            })
          } else if (o.kind === "truncate") {
            if (model.entries.length === 0) continue
            const from = model.prevIndex + 1 + Math.floor(o.at * model.entries.length)
            views.push({
              log: Log.truncateFrom(log, from),
              model: { ...model, entries: model.entries.slice(0, from - model.prevIndex - 1) }
            })
          } else {
            const upTo = model.prevIndex + Math.floor(o.at * (lastIndex - model.prevIndex + 1))
            if (upTo <= model.prevIndex) continue
            const t = model.entries[upTo - model.prevIndex - 1]!.term
            views.push({
              log: Log.compactTo(log, upTo, t),
              model: { prevIndex: upTo, prevTerm: t, entries: model.entries.slice(upTo - model.prevIndex) }
            })
          }
          for (const v of views) expectSame(v.log, v.model)
        }
      }),
      { numRuns: 60 }
    )
  })

  it("slice returns the entries of a range, clipped to what is held", () => {
    const entries = fresh(70_000, 3)
    const log = Log.compactTo(Log.fromEntries(0, 0, entries), 100, 3)
    expect(Log.slice(log, 32_760, 32_775)).toEqual(entries.slice(32_759, 32_775))
    expect(Log.slice(log, 1, 103)).toEqual(entries.slice(100, 103))
    expect(Log.slice(log, 69_999, 80_000)).toEqual(entries.slice(69_998))
    expect(Log.slice(log, 50, 100)).toEqual([])
  })

  it("truncating at or below the compaction point is refused (those entries are committed)", () => {
    const log = Log.compactTo(Log.fromEntries(0, 0, fresh(10, 1)), 5, 1)
    expect(() => Log.truncateFrom(log, 5)).toThrow()
    expect(Log.lastIndex(Log.truncateFrom(log, 6))).toBe(5)
  })

  it("fast backtracking lookups: the first index of a term and the last index at or below a term", () => {
    // Terms 1 1 1 4 4 5 5 6 6 6 at indices 1..10 (the leader of paper Figure 7).
    const log = Log.fromEntries(
      0,
      0,
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6].map((term) => ({
        term,
        kind: "command" as const,
        data: new Uint8Array(0)
      }))
    )
    expect(Log.firstIndexOfTerm(log, 9)).toBe(8)
    expect(Log.firstIndexOfTerm(log, 5)).toBe(4)
    expect(Log.lastIndexAtOrBelowTerm(log, 10, 4)).toBe(5)
    expect(Log.lastIndexAtOrBelowTerm(log, 10, 3)).toBe(3)
    expect(Log.lastIndexAtOrBelowTerm(log, 6, 7)).toBe(6)
  })
})
