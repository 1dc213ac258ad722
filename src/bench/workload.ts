/**
 * The workload of one closed-loop client: uniformly chosen keys, fixed-size values, reads with
 * probability `readRatio`. Deterministic from a seed so two targets see the same sequence.
 */

/** mulberry32: a small, fast 32-bit PRNG (good enough to pick keys and operations). */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Digits of the zero-padded key number: at least 6 (`key-000123`), more for larger key spaces. */
export const keyWidth = (keySpace: number): number => Math.max(6, String(Math.max(0, keySpace - 1)).length)

/** The name of key number `i`. */
export const keyName = (i: number, width: number): string => `key-${String(i).padStart(width, "0")}`

export type OpKind = "read" | "write"

export interface Op {
  readonly kind: OpKind
  readonly key: string
  /** The value to write (the same buffer each time, with a fresh counter in its first bytes). */
  readonly value: Uint8Array
}

export interface WorkloadOptions {
  readonly keySpace: number
  readonly valueSize: number
  readonly readRatio: number
  readonly seed: number
}

/** The operation stream of client number `client`. */
export const makeWorkload = (o: WorkloadOptions, client: number): (() => Op) => {
  const random = prng((o.seed * 1_000_003 + client * 7919) >>> 0)
  const width = keyWidth(o.keySpace)
  const value = new Uint8Array(o.valueSize)
  for (let i = 0; i < value.length; i++) value[i] = 97 + Math.floor(random() * 26)
  let counter = 0
  return () => {
    const kind: OpKind = o.readRatio > 0 && random() < o.readRatio ? "read" : "write"
    const key = keyName(Math.floor(random() * o.keySpace), width)
    if (kind === "write") {
      // Distinct values make a lost or duplicated write visible to anyone reading them back.
      counter++
      for (let i = 0, c = counter; i < Math.min(8, value.length); i++, c = Math.floor(c / 26)) {
        value[i] = 97 + (c % 26)
      }
    }
    return { kind, key, value }
  }
}
