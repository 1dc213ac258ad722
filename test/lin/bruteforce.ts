/**
 * A deliberately naive linearizability check for tiny histories, written independently of the
 * checker (plain objects, every order tried), used as an oracle in its tests.
 *
 * @module
 */
import type { HistoryRecord, Op, Result } from "./types.ts"

interface Cell {
  readonly value: string
  readonly version: number
}

/** Applies `op` to `cell`; `undefined` when `result` is impossible there. Unknown result: any. */
const apply = (
  cell: Cell | undefined,
  op: Op,
  result: Result | undefined
): { readonly next: Cell | undefined } | undefined => {
  const version = cell?.version ?? 0
  let actual: Result
  let next = cell
  if (op._tag === "Get") {
    actual = cell === undefined ? { _tag: "Absent" } : { _tag: "Found", value: cell.value, version }
  } else if (op.expectedVersion !== undefined && op.expectedVersion !== version) {
    actual = { _tag: "VersionMismatch", currentVersion: version }
  } else if (op._tag === "Put") {
    next = { value: op.value, version: version + 1 }
    actual = { _tag: "Written", version: version + 1 }
  } else {
    next = undefined
    actual = { _tag: "Deleted", deleted: cell !== undefined }
  }
  if (result !== undefined && canonical(result) !== canonical(actual)) return undefined
  return { next }
}

const canonical = (r: Result): string => {
  switch (r._tag) {
    case "Found":
      return `Found ${r.version} ${JSON.stringify(r.value)}`
    case "Absent":
      return "Absent"
    case "Written":
      return `Written ${r.version}`
    case "Deleted":
      return `Deleted ${r.deleted}`
    case "VersionMismatch":
      return `VersionMismatch ${r.currentVersion}`
  }
}

/** Is this history (any keys) linearizable? Exponential: keep it to a handful of ops. */
export const bruteForceLinearizable = (history: ReadonlyArray<HistoryRecord>): boolean => {
  const cells = new Map<string, Cell | undefined>()
  const done = new Array<boolean>(history.length).fill(false)
  const mustPrecede = (a: HistoryRecord, b: HistoryRecord): boolean =>
    a.result !== undefined && a.ret !== undefined && a.ret < b.call
  const search = (): boolean => {
    if (history.every((r, i) => done[i] || r.result === undefined)) return true
    for (let i = 0; i < history.length; i++) {
      const r = history[i]!
      if (done[i]) continue
      if (history.some((h, j) => !done[j] && j !== i && mustPrecede(h, r))) continue
      const outcome = apply(cells.get(r.key), r.op, r.result)
      if (outcome === undefined) continue
      const before = cells.get(r.key)
      cells.set(r.key, outcome.next)
      done[i] = true
      const ok = search()
      done[i] = false
      cells.set(r.key, before)
      if (ok) return true
    }
    return false
  }
  return search()
}
