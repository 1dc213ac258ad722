/**
 * Generates linearizable KV histories by running random concurrent clients against a real
 * in-memory versioned register: each op takes effect at one instant strictly inside its recorded
 * [call, ret] interval, so the recorded history is linearizable by construction. Clients may time
 * out: the op's outcome is then unknown, and it may take effect later or never.
 *
 * Deterministic for a given seed (used by property tests and by `bench/lin.ts`).
 *
 * @module
 */
import type { HistoryRecord, Op, Result } from "./types.ts"

/** Shape of a generated history. */
export interface GenerateOptions {
  readonly seed: number
  readonly clients: number
  readonly keys: number
  readonly ops: number
  /** Probability that a client gives up on an op (outcome unknown). Default 0. */
  readonly timeoutRate?: number | undefined
  /** Draw put values from this many distinct strings; default: every put writes a fresh value. */
  readonly values?: number | undefined
}

interface Cell {
  value: string
  version: number
}

interface Waiting {
  readonly record: number
  result: Result | undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A linearizable history of `ops` operations (see module doc). */
export const generateHistory = (o: GenerateOptions): Array<HistoryRecord> => {
  const random = mulberry32(o.seed)
  const pick = (n: number): number => Math.floor(random() * n)
  const timeoutRate = o.timeoutRate ?? 0
  const store = new Map<string, Cell>()
  const history: Array<Mutable<HistoryRecord>> = []
  const waiting: Array<Waiting | undefined> = new Array(o.clients).fill(undefined)
  const orphans: Array<number> = []
  let busy = 0
  let fresh = 0

  const apply = (key: string, op: Op): Result => {
    const cell = store.get(key)
    const version = cell?.version ?? 0
    if (op._tag === "Get") return cell === undefined ? { _tag: "Absent" } : { _tag: "Found", ...cell }
    if (op.expectedVersion !== undefined && op.expectedVersion !== version)
      return { _tag: "VersionMismatch", currentVersion: version }
    if (op._tag === "Put") {
      store.set(key, { value: op.value, version: version + 1 })
      return { _tag: "Written", version: version + 1 }
    }
    store.delete(key)
    return { _tag: "Deleted", deleted: cell !== undefined }
  }

  const chooseOp = (key: string): Op => {
    const version = store.get(key)?.version ?? 0
    const expected = () => (random() < 0.6 ? version : pick(version + 2))
    const value = () => (o.values === undefined ? `v${fresh++}` : `v${pick(o.values)}`)
    const r = random()
    if (r < 0.4) return { _tag: "Get" }
    if (r < 0.65) return { _tag: "Put", value: value() }
    if (r < 0.85) return { _tag: "Put", value: value(), expectedVersion: expected() }
    if (r < 0.93) return { _tag: "Delete" }
    return { _tag: "Delete", expectedVersion: expected() }
  }

  for (let t = 1; history.length < o.ops || busy > 0; t++) {
    if (orphans.length > 0 && random() < 0.05) {
      // A timed-out op still in the system: it takes effect now, or is lost for good.
      const record = history[orphans.splice(pick(orphans.length), 1)[0]!]!
      if (random() < 0.5) apply(record.key, record.op)
      continue
    }
    const c = pick(o.clients)
    const w = waiting[c]
    if (w === undefined) {
      if (history.length >= o.ops || random() < 0.3) continue
      const key = `k${pick(o.keys)}`
      waiting[c] = { record: history.length, result: undefined }
      busy++
      history.push({ clientId: c, key, op: chooseOp(key), call: t, ret: undefined, result: undefined })
      continue
    }
    const record = history[w.record]!
    if (random() < timeoutRate) {
      if (w.result === undefined) orphans.push(w.record)
      waiting[c] = undefined
      busy--
    } else if (w.result === undefined) {
      w.result = apply(record.key, record.op)
    } else {
      record.ret = t
      record.result = w.result
      waiting[c] = undefined
      busy--
    }
  }
  return history
}

/** Small seeded PRNG (mulberry32): uniform in [0, 1). */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
