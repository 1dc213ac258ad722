/**
 * Violations visible without search, from reads alone (in the spirit of "reads-from" analysis).
 * A get that returned (value, version) needs a put that wrote exactly that; when only one op
 * could have, the read must fall after it and before anything that overwrote it. These catch
 * the common bugs (a read of a value never written, a stale read, a lost write) at once and with
 * a pointed reason, even in histories too long for the search to refute in its budget.
 *
 * Every violation reported here is genuine; finding none proves nothing (the search decides).
 *
 * @module
 */
import type { KeyModel } from "./model.ts"
import { DELETED, FOUND, PENDING, PUT, valueIdOf, WRITTEN } from "./model.ts"

/** A read that no linearization can satisfy, with the ops that show it (op numbers). */
export interface ImpossibleRead {
  readonly reader: number
  /** The only op that could have written what the reader saw, if any. */
  readonly writer: number | undefined
  /** An op that surely overwrote it before the read began. */
  readonly overwriter: number | undefined
}

/** The first impossible read in call order, if any. */
export const findImpossibleRead = (
  m: KeyModel,
  call: Float64Array,
  ret: Float64Array
): ImpossibleRead | undefined => {
  const n = m.size
  // Who could produce each observed state: Written puts of it, and puts of its value whose
  // outcome is unknown (they may have landed at any version).
  const writers = new Map<number, Array<number>>()
  const maybeWriters = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    if (m.opKind[i] !== PUT) continue
    if (m.resKind[i] === WRITTEN) {
      const code = m.resNum[i]! * m.base + m.valueId[i]! + 1
      const list = writers.get(code)
      if (list === undefined) writers.set(code, [i])
      else list.push(i)
    } else if (m.resKind[i] === PENDING) {
      maybeWriters.set(m.valueId[i]!, (maybeWriters.get(m.valueId[i]!) ?? 0) + 1)
    }
  }
  const overwrites = definiteChanges(m, call, ret)
  for (let g = 0; g < n; g++) {
    if (m.resKind[g] !== FOUND) continue
    const code = m.resNum[g]!
    const valueId = code > 0 ? valueIdOf(m, code) : -1
    const sure = code > 0 ? (writers.get(code) ?? []) : []
    const maybe = valueId >= 0 ? (maybeWriters.get(valueId) ?? 0) : 0
    if (sure.length + maybe === 0) return { reader: g, writer: undefined, overwriter: undefined }
    if (sure.length !== 1 || maybe !== 0) continue
    const p = sure[0]!
    if (ret[g]! < call[p]!) return { reader: g, writer: p, overwriter: undefined }
    const w = overwrites.firstBetween(ret[p]!, call[g]!)
    if (w !== undefined) return { reader: g, writer: p, overwriter: w }
  }
  return undefined
}

/** Ops known to have changed the state (Written puts, deletes that deleted), queryable by time. */
const definiteChanges = (m: KeyModel, call: Float64Array, ret: Float64Array) => {
  const ops: Array<number> = []
  for (let i = 0; i < m.size; i++) {
    if (m.resKind[i] === WRITTEN || (m.resKind[i] === DELETED && m.resNum[i] === 1)) ops.push(i)
  }
  // Ops are numbered in call order already; suffix minimum of return times.
  const minRet = new Float64Array(ops.length + 1).fill(Infinity)
  const argMin = new Int32Array(ops.length + 1).fill(-1)
  for (let k = ops.length - 1; k >= 0; k--) {
    const r = ret[ops[k]!]!
    const better = r < minRet[k + 1]!
    minRet[k] = better ? r : minRet[k + 1]!
    argMin[k] = better ? ops[k]! : argMin[k + 1]!
  }
  return {
    /** An op called after `after` that returned before `before` (strictly), if any. */
    firstBetween(after: number, before: number): number | undefined {
      let lo = 0
      let hi = ops.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (call[ops[mid]!]! > after) hi = mid
        else lo = mid + 1
      }
      return minRet[lo]! < before ? argMin[lo]! : undefined
    }
  }
}
