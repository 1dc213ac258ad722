/**
 * A bounded FIFO of fixed-width numeric records, stored column by column in typed arrays: the
 * metrics bookkeeping of in-flight requests and pending proposals allocates nothing per record.
 * When full, pushing drops the oldest record (reported to the caller so it can count it).
 */
export class Ring {
  private readonly cols: Float64Array[]
  private head = 0
  private count = 0
  readonly capacity: number

  constructor(capacity: number, width: number) {
    this.capacity = capacity
    this.cols = Array.from({ length: width }, () => new Float64Array(capacity))
  }

  get size(): number {
    return this.count
  }

  /** Field `col` of the oldest record (undefined behaviour when empty: check `size`). */
  first(col: number): number {
    return this.cols[col]![this.head]!
  }

  setFirst(col: number, value: number): void {
    this.cols[col]![this.head] = value
  }

  /** Append a record; returns false when the ring was full and the oldest record was dropped. */
  push(a: number, b = 0, c = 0): boolean {
    let kept = true
    if (this.count === this.capacity) {
      this.shift()
      kept = false
    }
    const at = (this.head + this.count) % this.capacity
    const cols = this.cols
    cols[0]![at] = a
    if (cols.length > 1) cols[1]![at] = b
    if (cols.length > 2) cols[2]![at] = c
    this.count++
    return kept
  }

  /** Drop the oldest record. */
  shift(): void {
    if (this.count === 0) return
    this.head = (this.head + 1) % this.capacity
    this.count--
  }

  clear(): void {
    this.head = 0
    this.count = 0
  }
}
