/**
 * Readable explanation of a key whose sub-history is not linearizable: its ops in call order with
 * times, the longest linearizable prefix the search found, and why no remaining op can follow it.
 *
 * @module
 */
import type { KeyModel } from "./model.ts"
import { FOUND, formatState, formatValue, PENDING, PUT, step, valueIdOf, versionOf, whyNot } from "./model.ts"
import type { ImpossibleRead } from "./precheck.ts"
import type { HistoryRecord, Op, Result } from "./types.ts"

const MAX_OPS_SHOWN = 200
const MAX_PREFIX_SHOWN = 20

/** One op as a line: history index, client, interval, operation and result. */
export const formatRecord = (index: number, r: HistoryRecord): string => {
  const interval = r.result === undefined ? `[${r.call}, ∞)` : `[${r.call}, ${r.ret}]`
  return `#${index} c${r.clientId} ${interval} ${formatOp(r.op)} -> ${formatResult(r.result)}`
}

export const formatOp = (op: Op): string => {
  const cond = op._tag !== "Get" && op.expectedVersion !== undefined ? ` if v=${op.expectedVersion}` : ""
  return op._tag === "Get"
    ? "get"
    : op._tag === "Put"
      ? `put ${formatValue(op.value)}${cond}`
      : `delete${cond}`
}

export const formatResult = (r: Result | undefined): string => {
  if (r === undefined) return "? (outcome unknown)"
  switch (r._tag) {
    case "Found":
      return `${formatValue(r.value)} v${r.version}`
    case "Absent":
      return "absent"
    case "Written":
      return `written v${r.version}`
    case "Deleted":
      return r.deleted ? "deleted" : "not deleted (absent)"
    case "VersionMismatch":
      return `VersionMismatch (current v${r.currentVersion})`
  }
}

/** A non-linearizable key: its ops (`indices[i]` is op i's history index, in call order). */
export interface KeyContext {
  readonly key: string
  readonly records: ReadonlyArray<HistoryRecord>
  readonly indices: ReadonlyArray<number>
  readonly model: KeyModel
  readonly call: Float64Array
  readonly ret: Float64Array
}

/** Why it is not linearizable: a read no order can satisfy, or where the search got stuck. */
export type Cause =
  | ({ readonly _tag: "ImpossibleRead" } & ImpossibleRead)
  | { readonly _tag: "Stuck"; readonly prefix: ReadonlyArray<number>; readonly state: number }

/** The explanation text for a non-linearizable key. */
export const explainViolation = (s: KeyContext, cause: Cause): string => {
  const n = s.indices.length
  const lines: Array<string> = [`key ${JSON.stringify(s.key)}: not linearizable (${plural(n, "op")})`]
  if (cause._tag === "ImpossibleRead") {
    listOps(s, lines, cause.reader)
    lines.push(...explainRead(s, cause))
    return lines.join("\n")
  }
  const done = new Set(cause.prefix)
  let firstReturn = Infinity
  for (let i = 0; i < n; i++) if (!done.has(i) && s.ret[i]! < firstReturn) firstReturn = s.ret[i]!
  const candidates: Array<number> = []
  for (let i = 0; i < n; i++) if (!done.has(i) && s.call[i]! <= firstReturn) candidates.push(i)
  listOps(s, lines, candidates[0] ?? 0)
  const shown = cause.prefix.slice(-MAX_PREFIX_SHOWN).map((i) => `#${s.indices[i]}`)
  const elided = cause.prefix.length > MAX_PREFIX_SHOWN ? `..., ` : ""
  lines.push(
    `longest linearizable prefix found: ${plural(cause.prefix.length, "op")}${
      cause.prefix.length > 0 ? ` (${elided}${shown.join(", ")})` : ""
    }, leaving the key ${formatState(s.model, cause.state)}`
  )
  lines.push(`no op can come next:`)
  for (const i of candidates.slice(0, MAX_PREFIX_SHOWN)) {
    lines.push(`  ${line(s, i)}: ${whyNotNext(s, done, i, cause.state)}`)
  }
  if (candidates.length > MAX_PREFIX_SHOWN) lines.push(`  ... ${candidates.length - MAX_PREFIX_SHOWN} more`)
  return lines.join("\n")
}

/** Why op `i` cannot follow the prefix `done` that left the key in `state`. */
const whyNotNext = (s: KeyContext, done: ReadonlySet<number>, i: number, state: number): string => {
  const after = step(s.model, i, state)
  if (after < 0) return whyNot(s.model, i, state)
  if (after !== state) {
    // The search's read pruning (readers.ts): does this move overwrite a state still to be read?
    const pending = (j: number) => !done.has(j) && j !== i
    const readers: Array<number> = []
    let rewritable = false
    for (let j = 0; j < s.indices.length; j++) {
      if (!pending(j)) continue
      if (s.model.resKind[j] === FOUND && s.model.resNum[j] === state) readers.push(j)
      if (s.model.opKind[j] === PUT && s.model.valueId[j] === valueIdOf(s.model, state)) {
        rewritable ||= s.model.resKind[j] === PENDING || s.model.resNum[j] === versionOf(s.model, state)
      }
    }
    if (readers.length > 0 && !rewritable) {
      const who = readers.slice(0, 3).map((j) => `#${s.indices[j]}`)
      return `it would overwrite ${formatState(s.model, state)}, which ${who.join(", ")} must still read and nothing left can write again`
    }
  }
  return "possible here, but nothing consistent can follow"
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`

/** The key's ops in call order; long histories are cut to a window around op `centre`. */
const listOps = (s: KeyContext, lines: Array<string>, centre: number): void => {
  const n = s.indices.length
  const from = n <= MAX_OPS_SHOWN ? 0 : Math.max(0, Math.min(centre - MAX_OPS_SHOWN / 2, n - MAX_OPS_SHOWN))
  const to = Math.min(n, from + MAX_OPS_SHOWN)
  lines.push(`ops in call order (#n = index in the history; ∞ = outcome unknown):`)
  if (from > 0) lines.push(`  ... ${from} earlier ops`)
  for (let i = from; i < to; i++) lines.push(`  ${line(s, i)}`)
  if (to < n) lines.push(`  ... ${n - to} later ops`)
}

const explainRead = (s: KeyContext, r: ImpossibleRead): Array<string> => {
  const reader = `  ${line(s, r.reader)}`
  if (r.writer === undefined)
    return ["this read returned something no put of this key wrote (at that version):", reader]
  const writer = `  ${line(s, r.writer)}`
  if (r.overwriter === undefined)
    return ["this read returned before the only put that wrote what it saw was called:", reader, writer]
  return [
    "this read saw a state that only one put wrote, but another write surely replaced it before the read began:",
    reader,
    `  wrote it: ${line(s, r.writer).trim()}`,
    `  replaced it: ${line(s, r.overwriter)}`
  ]
}

const line = (s: KeyContext, i: number): string => formatRecord(s.indices[i]!, s.records[s.indices[i]!]!)
