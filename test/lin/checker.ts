/**
 * Linearizability checker for KV histories (Porcupine-style).
 *
 * Linearizability is compositional (P-compositionality): a history is linearizable iff each key's
 * sub-history is, so keys are checked independently, smallest first, and the first failing key is
 * reported. See `search.ts` for the per-key search and `types.ts` for the model.
 *
 * @module
 */
import { explainViolation } from "./explain.ts"
import { compileKey } from "./model.ts"
import { findImpossibleRead } from "./precheck.ts"
import type { Budget } from "./search.ts"
import { searchKey } from "./search.ts"
import type { CheckOptions, CheckResult, HistoryRecord } from "./types.ts"

const DEFAULT_TIMEOUT_MS = 10_000

/**
 * Checks that `history` is linearizable with respect to a versioned register per key.
 *
 * Returns `{ ok: true }` only when a linearization was found for every key; a violation names the
 * smallest non-linearizable key with a readable explanation; a search that exceeds the budget
 * (`timeoutMs`, `maxSteps`) yields `status: "unknown"`; malformed records yield `status: "invalid"`.
 */
export const checkHistory = (
  history: ReadonlyArray<HistoryRecord>,
  options: CheckOptions = {}
): CheckResult => {
  const invalid = validate(history)
  if (invalid !== undefined) return { ok: false, status: "invalid", explanation: invalid }
  const budget: Budget = {
    deadline: performance.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    steps: options.maxSteps ?? Infinity
  }
  const unknown: Array<string> = []
  const unknownSizes: Array<string> = []
  for (const [key, indices] of partition(history)) {
    const n = indices.length
    const call = new Float64Array(n)
    const ret = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const r = history[indices[i]!]!
      call[i] = r.call
      ret[i] = r.result === undefined || r.ret === undefined ? Infinity : r.ret
    }
    const model = compileKey(history, indices)
    const context = { key, records: history, indices, model, call, ret }
    const impossible = findImpossibleRead(model, call, ret)
    if (impossible !== undefined) {
      const explanation = explainViolation(context, { _tag: "ImpossibleRead", ...impossible })
      return { ok: false, status: "violation", key, explanation }
    }
    const outcome = searchKey(model, call, ret, budget)
    if (outcome._tag === "NotLinearizable") {
      const explanation = explainViolation(context, {
        _tag: "Stuck",
        prefix: outcome.prefix,
        state: outcome.state
      })
      return { ok: false, status: "violation", key, explanation }
    }
    if (outcome._tag === "OutOfBudget") {
      unknown.push(key)
      unknownSizes.push(`${JSON.stringify(key)} (${n} ops)`)
    }
  }
  if (unknown.length === 0) return { ok: true, status: "linearizable" }
  return {
    ok: false,
    status: "unknown",
    keys: unknown,
    explanation: `search budget exhausted on ${unknown.length} key(s): ${unknownSizes.slice(0, 10).join(", ")}${
      unknown.length > 10 ? ", ..." : ""
    }; no violation found on the other keys. Raise timeoutMs/maxSteps, or record fewer concurrent ops per key.`
  }
}

/**
 * Each key's ops as history indices in call order (pending reads dropped: they changed nothing
 * and observed nothing), keys ordered by size so the reported violation is the smallest.
 */
const partition = (history: ReadonlyArray<HistoryRecord>): Array<[string, Array<number>]> => {
  const byKey = new Map<string, Array<number>>()
  history.forEach((r, index) => {
    if (r.result === undefined && r.op._tag === "Get") return
    const list = byKey.get(r.key)
    if (list === undefined) byKey.set(r.key, [index])
    else list.push(index)
  })
  const keys = Array.from(byKey)
  for (const [, indices] of keys) indices.sort((a, b) => history[a]!.call - history[b]!.call || a - b)
  keys.sort(([ka, a], [kb, b]) => a.length - b.length || (ka < kb ? -1 : ka > kb ? 1 : 0))
  return keys
}

const RESULTS_OF = {
  Get: ["Found", "Absent"],
  Put: ["Written", "VersionMismatch"],
  Delete: ["Deleted", "VersionMismatch"]
} as const

const isVersion = (v: number): boolean => Number.isSafeInteger(v) && v >= 0

/** The first malformed record, described; undefined when all are well formed. */
const validate = (history: ReadonlyArray<HistoryRecord>): string | undefined => {
  for (let index = 0; index < history.length; index++) {
    const r = history[index]!
    const bad = (why: string) => `record #${index} (key ${JSON.stringify(r.key)}): ${why}`
    if (!Number.isFinite(r.call)) return bad(`call time ${r.call} is not a finite number`)
    if (r.ret !== undefined && !(r.ret >= r.call)) return bad(`return time ${r.ret} precedes call ${r.call}`)
    const op = r.op
    if (op._tag !== "Get" && op.expectedVersion !== undefined && !isVersion(op.expectedVersion))
      return bad(`expectedVersion ${op.expectedVersion} is not a non-negative integer`)
    const res = r.result
    if (res === undefined) continue
    if (!(RESULTS_OF[op._tag] as ReadonlyArray<string>).includes(res._tag))
      return bad(`a ${op._tag} cannot return ${res._tag}`)
    const version =
      res._tag === "Found" || res._tag === "Written"
        ? res.version
        : res._tag === "VersionMismatch"
          ? res.currentVersion
          : 0
    if (!isVersion(version)) return bad(`version ${version} is not a non-negative integer`)
  }
  return undefined
}

export type { CheckOptions, CheckResult, HistoryRecord, Op, Result } from "./types.ts"
export { absent, del, deleted, found, get, mismatch, put, written } from "./types.ts"
