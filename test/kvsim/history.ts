/**
 * The history clients record (virtual call/return times), and the explicit "no acknowledged write
 * lost" check on the final reads.
 */
import type { HistoryRecord, Op, Result } from "../lin/types.ts"

/** One client operation as it is being recorded. */
export interface OpRecord {
  readonly client: number
  readonly key: string
  readonly op: Op
  readonly call: number
  ret: number | undefined
  /** Known outcome; undefined while running and when the outcome is unknown. */
  result: Result | undefined
  /**
   * - running: not finished yet;
   * - done: `result` observed;
   * - unknown: gave up (timeout, or an answer that leaves the outcome open); a write may have
   *   taken effect, now or later;
   * - unsent: gave up before any attempt left the client: it cannot have had any effect and is
   *   left out of the checked history.
   */
  status: "running" | "done" | "unknown" | "unsent"
  /** One of the reads of every key after healing. */
  readonly final: boolean
}

export class History {
  readonly ops: OpRecord[] = []

  begin(client: number, key: string, op: Op, call: number, final = false): OpRecord {
    const r: OpRecord = { client, key, op, call, ret: undefined, result: undefined, status: "running", final }
    this.ops.push(r)
    return r
  }

  /** The history to check: unsent ops left out, running ones as unknown. */
  records(): HistoryRecord[] {
    const out: HistoryRecord[] = []
    for (const r of this.ops) {
      if (r.status === "unsent") continue
      const known = r.status === "done"
      out.push({
        clientId: r.client,
        key: r.key,
        op: r.op,
        call: r.call,
        ret: known ? r.ret : undefined,
        result: known ? r.result : undefined
      })
    }
    return out
  }
}

const isFinalRead = (r: OpRecord): boolean => r.final && r.op._tag === "Get"

/** A write that changed (or may have changed) the key: a written put, a delete that ran, or
 * either with an unknown outcome. `acked` when the client got its result. */
const effect = (r: OpRecord): { acked: boolean } | undefined => {
  if (r.final || r.op._tag === "Get") return undefined
  if (r.status === "unknown") return { acked: false }
  if (r.status !== "done" || r.result === undefined) return undefined
  const t = r.result._tag
  return t === "Written" || t === "Deleted" ? { acked: true } : undefined
}

/** Return time of an op for "did W start after X ended": unknown ops never ended. */
const endOf = (r: OpRecord): number => (r.status === "done" ? r.ret! : Number.POSITIVE_INFINITY)

/** A value quoted, padding elided. */
const quote = (v: string): string => JSON.stringify(v.length > 24 ? `${v.slice(0, 20)}...` : v)

const describe = (r: OpRecord): string => {
  const op = r.op._tag === "Put" ? `put ${quote(r.op.value)}` : r.op._tag.toLowerCase()
  const cond =
    r.op._tag !== "Get" && r.op.expectedVersion !== undefined ? ` if v=${r.op.expectedVersion}` : ""
  const res = r.status === "done" ? JSON.stringify(r.result) : r.status
  return `c${r.client} ${op}${cond} [${r.call.toFixed(3)}, ${r.status === "done" ? r.ret!.toFixed(3) : "∞"}] -> ${res}`
}

/**
 * No acknowledged write lost: the final read of each key must show the effect of a write that no
 * acknowledged write followed in real time (it started after that write returned). So the state
 * it shows comes from the last acknowledged write, or from one concurrent with it or later whose
 * outcome was unknown. A found value must come from a put of that key (`Written` or unknown); an
 * absent key from a delete (or the initial state) that no acknowledged put followed.
 * Returns a description of the first breach, or undefined.
 */
export const checkFinalReads = (history: History): string | undefined => {
  const byKey = new Map<string, OpRecord[]>()
  for (const r of history.ops) {
    const list = byKey.get(r.key)
    if (list === undefined) byKey.set(r.key, [r])
    else list.push(r)
  }
  for (const [key, ops] of byKey) {
    const finals = ops.filter(isFinalRead)
    if (finals.length === 0) continue
    const final = finals[finals.length - 1]!
    if (final.status !== "done" || final.result === undefined)
      return `key ${key}: the final read has no answer`
    const writes = ops.filter((r) => effect(r) !== undefined)
    const ackedAfter = (end: number, onlyPuts: boolean) =>
      writes.find(
        (w) => effect(w)!.acked && w.call > end && (!onlyPuts || w.op._tag === "Put") && w.call < final.call
      )
    const res = final.result
    if (res._tag === "Found") {
      const writer = writes.find((w) => w.op._tag === "Put" && w.op.value === res.value)
      if (writer === undefined) {
        return `key ${key}: the final read found ${quote(res.value)}, which no put of this key that may have taken effect wrote`
      }
      const later = ackedAfter(endOf(writer), false)
      if (later !== undefined) {
        return `key ${key}: acknowledged write lost: the final read found ${quote(res.value)} from ${describe(writer)}, but ${describe(later)} started after it returned`
      }
    } else if (res._tag === "Absent") {
      const deletes = writes.filter((w) => w.op._tag === "Delete")
      const ends = [Number.NEGATIVE_INFINITY, ...deletes.map(endOf)]
      if (ends.every((end) => ackedAfter(end, true) !== undefined)) {
        const last = writes.filter((w) => w.op._tag === "Put" && effect(w)!.acked).pop()!
        return `key ${key}: acknowledged write lost: the final read finds the key absent, but ${describe(last)} was acknowledged and no delete could have come after it`
      }
    }
  }
  return undefined
}
