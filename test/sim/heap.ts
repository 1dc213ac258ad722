/** Something scheduled at a virtual time; `seq` (insertion order) breaks ties deterministically. */
export interface Timed {
  readonly time: number
  readonly seq: number
}

const before = (x: Timed, y: Timed): boolean => x.time < y.time || (x.time === y.time && x.seq < y.seq)

/** A binary min-heap ordered by (time, seq): the simulator's event queue. */
export class Heap<T extends Timed> {
  private readonly items: T[] = []

  get size(): number {
    return this.items.length
  }

  push(item: T): void {
    const items = this.items
    let i = items.length
    items.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!before(item, p)) break
      items[i] = p
      i = parent
    }
    items[i] = item
  }

  /** The earliest item, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0]
  }

  /** Remove and return the earliest item, or undefined when empty. */
  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    const n = items.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && before(items[r]!, items[l]!) ? r : l
      const c = items[child]!
      if (!before(c, last)) break
      items[i] = c
      i = child
    }
    items[i] = last
    return top
  }
}
