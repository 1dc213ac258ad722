/**
 * Wing & Gong's linearizability search with Lowe's improvements, for one key (as in Porcupine):
 * call and return events sit in a doubly linked list; the search walks it, linearizing an op at
 * its call event (lifting both its events out of the list) when the model accepts its result,
 * and backtracks at the first return event of an op not yet linearized. Configurations (set of
 * linearized ops, model state) already explored are never explored again.
 *
 * Additions:
 * - Ops whose outcome is unknown have no return event and need not be linearized: the search
 *   succeeds once every op with an observed result is linearized.
 * - Ops with unknown outcome that the model cannot tell apart (same kind, expected version, and
 *   value, where all values no get returned count as one) are used in call order only: any
 *   solution using a later one while an earlier one is unused stays one after swapping them.
 * - An op that changed nothing (a get, a VersionMismatch, a delete of an absent key) and can go
 *   next is taken without branching: moving it earlier in any solution keeps it a solution, so if
 *   it leads nowhere, neither does its configuration. This avoids trying every subset of a batch
 *   of concurrent reads.
 * - A move that would overwrite a state some get still has to read, when nothing left could
 *   recreate it, is not made (`readers.ts`): wrong orders die at once instead of much later.
 *
 * @module
 */
import { Configurations } from "./memo.ts"
import type { KeyModel } from "./model.ts"
import { isObserver, isRequired, step } from "./model.ts"
import { ReadTracker } from "./readers.ts"

/** Shared, mutable budget of a whole check. */
export interface Budget {
  /** `performance.now()` deadline. */
  readonly deadline: number
  /** Search steps left. */
  steps: number
}

/** Outcome of one key's search. */
export type KeyOutcome =
  | { readonly _tag: "Linearizable" }
  | {
      readonly _tag: "NotLinearizable"
      /** The longest linearization of a prefix found, as op numbers. */
      readonly prefix: ReadonlyArray<number>
      /** The model state after it. */
      readonly state: number
    }
  | { readonly _tag: "OutOfBudget" }

const CHECK_EVERY = 1024

/**
 * Searches a linearization of one key's ops. Ops are numbered `0..m.size-1` in call order;
 * `ret[i]` is `Infinity` for an op without a return event.
 */
export const searchKey = (m: KeyModel, call: Float64Array, ret: Float64Array, budget: Budget): KeyOutcome => {
  const n = m.size
  const next = new Int32Array(2 * n + 1)
  const prev = new Int32Array(2 * n + 1)
  linkEvents(call, ret, next, prev)
  // Node ids: head 0, call of op i = 2i+1, return of op i = 2i+2.
  const hasRet = (i: number): boolean => ret[i] !== Infinity
  const unlink = (node: number): void => {
    next[prev[node]!] = next[node]!
    if (next[node] !== -1) prev[next[node]!] = prev[node]!
  }
  const relink = (node: number): void => {
    next[prev[node]!] = node
    if (next[node] !== -1) prev[next[node]!] = node
  }

  const zobrist = new Uint32Array(n)
  for (let i = 0; i < n; i++) zobrist[i] = hashIndex(i)
  const seen = new Configurations(Array.from({ length: n }, (_, i) => isRequired(m, i)))
  const reads = new ReadTracker(m)
  const used = new Int32Array(m.classes)
  const stackOp = new Int32Array(n)
  const stackState = new Float64Array(n)
  let depth = 0
  let state = 0
  let hash = 0
  let remaining = 0
  for (let i = 0; i < n; i++) if (isRequired(m, i)) remaining++

  // The deepest configuration at a backtrack, for the explanation. `best[0..clean)` equals the
  // stack's bottom, so recording a new best only copies what changed since the last one.
  let bestDepth = -1
  const best: Array<number> = []
  let clean = 0
  let bestState = 0
  let steps = 0

  /**
   * The state after linearizing op `i` now and recording the new configuration; -1 if its result
   * is impossible here or the move strands a read; -2 if the configuration was already explored.
   */
  const tryStep = (i: number): number => {
    // Ops of one class are interchangeable, so only the earliest unused one is ever tried.
    if (m.opClass[i]! >= 0 && used[m.opClass[i]!] !== m.classRank[i]) return -1
    const after = step(m, i, state)
    if (after < 0) return -1
    reads.take(i)
    if (after !== state && reads.strands(state)) {
      reads.untake(i)
      return -1
    }
    seen.add(i)
    if (seen.visit(hash ^ zobrist[i]!, after)) return after
    seen.remove(i)
    reads.untake(i)
    return -2
  }

  let entry = next[0]!
  while (remaining > 0) {
    if (++steps === CHECK_EVERY) {
      budget.steps -= steps
      steps = 0
      if (budget.steps < 0 || performance.now() > budget.deadline) return { _tag: "OutOfBudget" }
    }
    let deadEnd = false
    if (entry !== -1 && (entry & 1) === 1) {
      const i = (entry - 1) >> 1
      const after = tryStep(i)
      if (after >= 0) {
        stackOp[depth] = i
        stackState[depth++] = state
        state = after
        hash ^= zobrist[i]!
        unlink(entry)
        if (hasRet(i)) unlink(entry + 1)
        if (isRequired(m, i)) remaining--
        else used[m.opClass[i]!]!++
        entry = next[0]!
        continue
      }
      // An observer that can go next but leads to an explored configuration: this one fails too.
      deadEnd = after === -2 && isObserver(m, i)
      if (!deadEnd) {
        entry = next[entry]!
        continue
      }
    }
    // Backtrack: undo the last op taken by choice (and the observers taken after it).
    if (depth > bestDepth) {
      bestDepth = depth
      for (let k = clean; k < depth; k++) best[k] = stackOp[k]!
      best.length = depth
      clean = depth
      bestState = state
    }
    for (;;) {
      if (depth === 0) {
        budget.steps -= steps
        return { _tag: "NotLinearizable", prefix: best, state: bestState }
      }
      const i = stackOp[--depth]!
      if (depth < clean) clean = depth
      state = stackState[depth]!
      hash ^= zobrist[i]!
      seen.remove(i)
      reads.untake(i)
      if (hasRet(i)) relink(2 * i + 2)
      relink(2 * i + 1)
      if (isRequired(m, i)) remaining++
      else used[m.opClass[i]!]!--
      if (!isObserver(m, i)) {
        entry = next[2 * i + 1]!
        break
      }
    }
  }
  budget.steps -= steps
  return { _tag: "Linearizable" }
}

/**
 * Links all events in time order. At equal times calls come before returns: ops touching at an
 * instant count as concurrent, the permissive reading (it can only accept more histories).
 */
const linkEvents = (call: Float64Array, ret: Float64Array, next: Int32Array, prev: Int32Array): void => {
  const n = call.length
  const nodes: Array<number> = []
  for (let i = 0; i < n; i++) {
    nodes.push(2 * i + 1)
    if (ret[i] !== Infinity) nodes.push(2 * i + 2)
  }
  const time = (node: number): number => ((node & 1) === 1 ? call[(node - 1) >> 1]! : ret[(node - 2) >> 1]!)
  nodes.sort((a, b) => time(a) - time(b) || (b & 1) - (a & 1) || a - b)
  let last = 0
  for (const node of nodes) {
    next[last] = node
    prev[node] = last
    last = node
  }
  next[last] = -1
}

/** A fixed pseudo-random 32-bit value per op (splitmix-style), for Zobrist hashing of sets. */
const hashIndex = (i: number): number => {
  let z = Math.imul(i + 0x632be5ab, 0x9e3779b9)
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}
