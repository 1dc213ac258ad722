/**
 * The versioned-register model of one key, compiled to flat arrays so the search can step it
 * without allocating.
 *
 * A state is a single number: 0 = absent (version 0); otherwise `version * base + valueId + 1`,
 * where values are interned per key (every value no get returned shares id `UNREAD`) and
 * `base = interned values + 1`.
 *
 * @module
 */
import type { HistoryRecord } from "./types.ts"

/** Op kinds in `KeyModel.opKind`. */
export const GET = 0
export const PUT = 1
export const DELETE = 2

/** Result kinds in `KeyModel.resKind`; `PENDING` = outcome unknown. */
export const PENDING = 0
export const FOUND = 1
export const ABSENT = 2
export const WRITTEN = 3
export const DELETED = 4
export const MISMATCH = 5

/**
 * Value id shared by every value no get returned: such values are indistinguishable to every
 * observation (only a Found result looks at a value), so merging them merges model states.
 */
export const UNREAD = 0

/** One key's sub-history in the search's representation. Op `i` is `records[indices[i]]`. */
export interface KeyModel {
  readonly size: number
  readonly base: number
  /** Interned values; `values[UNREAD]` is a placeholder. */
  readonly values: ReadonlyArray<string>
  readonly opKind: Uint8Array
  readonly resKind: Uint8Array
  /** Put: interned value id. */
  readonly valueId: Int32Array
  /** -1 when unconditional. */
  readonly expected: Float64Array
  /** Found: the state it requires; Written: new version; Deleted: 1/0; VersionMismatch: current. */
  readonly resNum: Float64Array
  /**
   * Ops with unknown outcome that behave identically in the model (same kind, value id and
   * expected version) form a class; -1 for other ops. `classRank` is the op's rank in its class,
   * in call order.
   */
  readonly opClass: Int32Array
  readonly classRank: Int32Array
  readonly classes: number
}

/** Compiles the ops `indices` of `records` (all on one key). */
export const compileKey = (
  records: ReadonlyArray<HistoryRecord>,
  indices: ReadonlyArray<number>
): KeyModel => {
  const size = indices.length
  const read = new Set<string>()
  for (const index of indices) {
    const res = records[index]!.result
    if (res?._tag === "Found") read.add(res.value)
  }
  const ids = new Map<string, number>()
  const values: Array<string> = [""]
  const intern = (v: string): number => {
    if (!read.has(v)) return UNREAD
    let id = ids.get(v)
    if (id === undefined) {
      id = values.length
      ids.set(v, id)
      values.push(v)
    }
    return id
  }
  const opKind = new Uint8Array(size)
  const resKind = new Uint8Array(size)
  const valueId = new Int32Array(size)
  const expected = new Float64Array(size)
  const resNum = new Float64Array(size)
  const foundValue = new Int32Array(size)
  for (let i = 0; i < size; i++) {
    const r = records[indices[i]!]!
    const op = r.op
    opKind[i] = op._tag === "Get" ? GET : op._tag === "Put" ? PUT : DELETE
    if (op._tag === "Put") valueId[i] = intern(op.value)
    expected[i] = op._tag !== "Get" && op.expectedVersion !== undefined ? op.expectedVersion : -1
    const res = r.result
    if (res === undefined) resKind[i] = PENDING
    else if (res._tag === "Found") {
      resKind[i] = FOUND
      foundValue[i] = intern(res.value)
      resNum[i] = res.version
    } else if (res._tag === "Absent") resKind[i] = ABSENT
    else if (res._tag === "Written") {
      resKind[i] = WRITTEN
      resNum[i] = res.version
    } else if (res._tag === "Deleted") {
      resKind[i] = DELETED
      resNum[i] = res.deleted ? 1 : 0
    } else {
      resKind[i] = MISMATCH
      resNum[i] = res.currentVersion
    }
  }
  const base = values.length + 1
  // A Found result pins the whole state; version 0 would mean absent, which Found never is.
  for (let i = 0; i < size; i++) {
    if (resKind[i] === FOUND) resNum[i] = resNum[i]! >= 1 ? resNum[i]! * base + foundValue[i]! + 1 : -1
  }
  const opClass = new Int32Array(size).fill(-1)
  const classRank = new Int32Array(size)
  const classIds = new Map<string, number>()
  const classSizes: Array<number> = []
  for (let i = 0; i < size; i++) {
    if (resKind[i] !== PENDING) continue
    const k = `${opKind[i]} ${opKind[i] === PUT ? valueId[i] : -1} ${expected[i]}`
    let c = classIds.get(k)
    if (c === undefined) {
      c = classSizes.length
      classIds.set(k, c)
      classSizes.push(0)
    }
    opClass[i] = c
    classRank[i] = classSizes[c]!++
  }
  const classes = classSizes.length
  return { size, base, values, opKind, resKind, valueId, expected, resNum, opClass, classRank, classes }
}

/** Version held in state `code`. */
export const versionOf = (m: KeyModel, code: number): number => Math.floor(code / m.base)

/** Interned value held in state `code` (-1 when absent). */
export const valueIdOf = (m: KeyModel, code: number): number => code - Math.floor(code / m.base) * m.base - 1

/** The new state after linearizing op `i` in state `code`, or -1 when its result is impossible there. */
export const step = (m: KeyModel, i: number, code: number): number => {
  const ver = Math.floor(code / m.base)
  const exp = m.expected[i]!
  const matches = exp < 0 || exp === ver
  switch (m.resKind[i]) {
    case FOUND:
      return code === m.resNum[i] ? code : -1
    case ABSENT:
      return code === 0 ? 0 : -1
    case WRITTEN:
      return matches && m.resNum[i] === ver + 1 ? (ver + 1) * m.base + m.valueId[i]! + 1 : -1
    case DELETED:
      return matches && m.resNum[i] === (ver > 0 ? 1 : 0) ? 0 : -1
    case MISMATCH:
      return !matches && m.resNum[i] === ver ? code : -1
    default:
      // Unknown outcome: whatever the op would do here.
      if (!matches) return code
      if (m.opKind[i] === PUT) return (ver + 1) * m.base + m.valueId[i]! + 1
      return m.opKind[i] === DELETE ? 0 : code
  }
}

/** Must op `i` be linearized (its result was observed)? */
export const isRequired = (m: KeyModel, i: number): boolean => m.resKind[i] !== PENDING

/**
 * Does op `i`'s observed result imply it left the state unchanged (a get, a VersionMismatch,
 * a delete of an absent key)? Such an op, once it can go next, may be linearized right away
 * without losing any solution: it commutes with everything after it.
 */
export const isObserver = (m: KeyModel, i: number): boolean => {
  const k = m.resKind[i]
  return k === FOUND || k === ABSENT || k === MISMATCH || (k === DELETED && m.resNum[i] === 0)
}

/** Human-readable state. */
export const formatState = (m: KeyModel, code: number): string => {
  if (code === 0) return "absent"
  const ver = Math.floor(code / m.base)
  const id = valueIdOf(m, code)
  return `${id === UNREAD ? "(a value no get returned)" : formatValue(m.values[id]!)} v${ver}`
}

/** Why op `i` cannot be linearized in state `code` (assumes `step` returned -1). */
export const whyNot = (m: KeyModel, i: number, code: number): string => {
  const ver = Math.floor(code / m.base)
  const exp = m.expected[i]!
  const state = formatState(m, code)
  switch (m.resKind[i]) {
    case FOUND:
      return `the key holds ${state}`
    case ABSENT:
      return `the key holds ${state}, not absent`
    case MISMATCH:
      return exp < 0
        ? "an unconditional write cannot fail with VersionMismatch"
        : exp === ver
          ? `expected version ${exp} matches the current one (${state})`
          : `the current version is ${ver} (${state})`
    default:
      return exp >= 0 && exp !== ver
        ? `expected version ${exp} but the key holds ${state}`
        : `the key holds ${state}`
  }
}

const MAX_SHOWN = 40

/** A value quoted and shortened for explanations. */
export const formatValue = (v: string): string => {
  const q = JSON.stringify(v)
  return q.length <= MAX_SHOWN ? q : `${q.slice(0, MAX_SHOWN - 4)}..."(${v.length} chars)`
}
