/**
 * The set of (linearized ops, model state) configurations the search has already entered.
 *
 * Ops with an observed result are numbered in call order, and all of them get linearized, so
 * their linearized set is almost always "every op below some index, plus a few more": an entry
 * stores that index and the few others, not a full bitset. Ops with unknown outcome may stay out
 * forever (and would pin that index), so they are kept apart in a small bitset of their own.
 * Memory per entry is thus proportional to concurrency and timeouts, not to history length.
 *
 * Entries live in flat typed arrays (a chained hash table) because the search may record
 * millions of them.
 *
 * @module
 */

/** A live set of linearized ops plus the memo of visited configurations. */
export class Configurations {
  /** Per op: its slot among required ops, or `-1 - slot` among optional ops. */
  private readonly slot: Int32Array
  private readonly required: Uint32Array
  private readonly optional: Uint32Array
  /** Lowest required slot not in the live set. */
  private low = 0
  /** Number of required ops in the live set. */
  private count = 0

  // Entry e: state, low, the required slots above low (pool[start .. start+len)), the optional
  // bitset (optPool[e*optWords ..]), its hash and the next entry of its bucket.
  private heads = new Int32Array(1 << 12).fill(-1)
  private entries = 0
  private eState = new Float64Array(1 << 12)
  private eLow = new Int32Array(1 << 12)
  private eStart = new Int32Array(1 << 12)
  private eHash = new Int32Array(1 << 12)
  private eNext = new Int32Array(1 << 12)
  private pool = new Int32Array(1 << 14)
  private poolUsed = 0
  private optPool: Uint32Array
  private readonly optWords: number

  /** `isRequired[i]`: op i had an observed result. */
  constructor(isRequired: ReadonlyArray<boolean>) {
    this.slot = new Int32Array(isRequired.length)
    let r = 0
    let o = 0
    isRequired.forEach((req, i) => {
      this.slot[i] = req ? r++ : -1 - o++
    })
    this.required = new Uint32Array((r + 32) >>> 5)
    this.optWords = (o + 31) >>> 5
    this.optional = new Uint32Array(this.optWords)
    this.optPool = new Uint32Array(this.optWords << 12)
  }

  add(i: number): void {
    const s = this.slot[i]!
    if (s < 0) {
      this.optional[(-1 - s) >>> 5]! |= 1 << ((-1 - s) & 31)
      return
    }
    this.required[s >>> 5]! |= 1 << (s & 31)
    this.count++
    if (s === this.low) {
      let k = s + 1
      while (this.has(k)) k++
      this.low = k
    }
  }

  remove(i: number): void {
    const s = this.slot[i]!
    if (s < 0) {
      this.optional[(-1 - s) >>> 5]! &= ~(1 << ((-1 - s) & 31))
      return
    }
    this.required[s >>> 5]! &= ~(1 << (s & 31))
    this.count--
    if (s < this.low) this.low = s
  }

  /**
   * Records (live set, state) under `hash` (a hash of the set); false if it was already there.
   */
  visit(hash: number, state: number): boolean {
    const key = (hash ^ mixState(state)) | 0
    for (let e = this.heads[key & (this.heads.length - 1)]!; e !== -1; e = this.eNext[e]!) {
      if (this.eHash[e] === key && this.eState[e] === state && this.equals(e)) return false
    }
    this.insert(key, state)
    return true
  }

  private has(s: number): boolean {
    return (this.required[s >>> 5]! & (1 << (s & 31))) !== 0
  }

  private equals(e: number): boolean {
    if (this.eLow[e] !== this.low) return false
    const start = this.eStart[e]!
    const len = this.count - this.low
    // Entries are stored in order, so e's slots end where e+1's begin.
    const end = e + 1 < this.entries ? this.eStart[e + 1]! : this.poolUsed
    if (end - start !== len) return false
    for (let k = start; k < end; k++) if (!this.has(this.pool[k]!)) return false
    const o = e * this.optWords
    for (let w = 0; w < this.optWords; w++) if (this.optPool[o + w] !== this.optional[w]) return false
    return true
  }

  private insert(key: number, state: number): void {
    const e = this.entries
    if (e === this.eState.length) this.growEntries()
    if (e === this.heads.length) this.rehash()
    this.entries = e + 1
    const len = this.count - this.low
    while (this.poolUsed + len > this.pool.length) this.pool = grow(this.pool, this.pool.length * 2)
    this.eState[e] = state
    this.eLow[e] = this.low
    this.eStart[e] = this.poolUsed
    this.eHash[e] = key
    for (let s = this.low + 1, n = 0; n < len; s++) if (this.has(s)) this.pool[this.poolUsed + n++] = s
    this.poolUsed += len
    this.optPool.set(this.optional, e * this.optWords)
    const b = key & (this.heads.length - 1)
    this.eNext[e] = this.heads[b]!
    this.heads[b] = e
  }

  private growEntries(): void {
    const cap = this.eState.length * 2
    this.eState = grow(this.eState, cap)
    this.eLow = grow(this.eLow, cap)
    this.eStart = grow(this.eStart, cap)
    this.eHash = grow(this.eHash, cap)
    this.eNext = grow(this.eNext, cap)
    this.optPool = grow(this.optPool, cap * this.optWords)
  }

  private rehash(): void {
    this.heads = new Int32Array(this.heads.length * 2).fill(-1)
    const mask = this.heads.length - 1
    for (let e = 0; e < this.entries; e++) {
      const b = this.eHash[e]! & mask
      this.eNext[e] = this.heads[b]!
      this.heads[b] = e
    }
  }
}

const grow = <A extends Int32Array | Uint32Array | Float64Array>(a: A, size: number): A => {
  const b = new (a.constructor as new (n: number) => A)(size)
  b.set(a)
  return b
}

const mixState = (state: number): number => {
  const hi = Math.floor(state / 4294967296)
  let h = Math.imul((state >>> 0) ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1)
  h ^= h >>> 15
  return Math.imul(h, 0x85ebca6b)
}
