/**
 * Pruning by reads: a get that returned (value, version) needs the key in exactly that state.
 * If a move would leave such a state while gets still need it and no op left could produce it
 * again, every continuation fails, so the search does not make that move. With unique put values
 * this cuts wrong orders as soon as a read's write is overwritten, instead of much later.
 *
 * @module
 */
import type { KeyModel } from "./model.ts"
import { FOUND, isRequired, PUT, valueIdOf, WRITTEN } from "./model.ts"

/** Counts of unlinearized readers and possible producers of every state some get observed. */
export class ReadTracker {
  /** Per op: the observed-state id it reads (-1: none). */
  private readonly readsState: Int32Array
  /** Per op: the observed-state id it produces when it returned Written (-1: none). */
  private readonly writesState: Int32Array
  /** Per op: the value id of a put with unknown outcome (-1: none). */
  private readonly maybeWritesValue: Int32Array
  private readonly valueOfState: Int32Array
  private readonly readers: Int32Array
  private readonly producers: Int32Array
  /** Per value id: unlinearized puts of that value with unknown outcome (any version). */
  private readonly maybeProducers: Int32Array
  private readonly ids = new Map<number, number>()

  constructor(m: KeyModel) {
    const n = m.size
    this.readsState = new Int32Array(n).fill(-1)
    this.writesState = new Int32Array(n).fill(-1)
    this.maybeWritesValue = new Int32Array(n).fill(-1)
    const values: Array<number> = []
    for (let i = 0; i < n; i++) {
      // A Found result's state code is in resNum (see compileKey); -1 if impossible anyway.
      if (m.resKind[i] === FOUND && m.resNum[i]! > 0) {
        const code = m.resNum[i]!
        let id = this.ids.get(code)
        if (id === undefined) {
          id = values.length
          this.ids.set(code, id)
          values.push(valueIdOf(m, code))
        }
        this.readsState[i] = id
      }
    }
    this.valueOfState = Int32Array.from(values)
    this.readers = new Int32Array(values.length)
    this.producers = new Int32Array(values.length)
    this.maybeProducers = new Int32Array(m.values.length)
    for (let i = 0; i < n; i++) {
      if (m.opKind[i] !== PUT) continue
      if (!isRequired(m, i)) this.maybeWritesValue[i] = m.valueId[i]!
      else if (m.resKind[i] === WRITTEN) {
        const id = this.ids.get(m.resNum[i]! * m.base + m.valueId[i]! + 1)
        if (id !== undefined) this.writesState[i] = id
      }
    }
    for (let i = 0; i < n; i++) this.untake(i)
  }

  /** Op `i` was linearized. */
  take(i: number): void {
    this.count(i, -1)
  }

  /** Op `i` was un-linearized (backtracking). */
  untake(i: number): void {
    this.count(i, 1)
  }

  /**
   * Would leaving state `from` strand a read (gets still need it, nothing can recreate it)?
   * Call after `take` of the op that leaves it.
   */
  strands(from: number): boolean {
    const id = this.ids.get(from)
    return (
      id !== undefined &&
      this.readers[id]! > 0 &&
      this.producers[id] === 0 &&
      this.maybeProducers[this.valueOfState[id]!] === 0
    )
  }

  private count(i: number, d: number): void {
    const r = this.readsState[i]!
    if (r >= 0) this.readers[r]! += d
    const w = this.writesState[i]!
    if (w >= 0) this.producers[w]! += d
    const v = this.maybeWritesValue[i]!
    if (v >= 0) this.maybeProducers[v]! += d
  }
}
