/**
 * A small, fast, seedable PRNG for the simulator: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator, 128-bit state, passes PractRand), seeded through splitmix32.
 *
 * Every random decision of a simulation run comes from one seed. Independent sub-streams
 * (network, disk, clock, faults, clients, core draws) are split off by label, so that a change in
 * how often one subsystem draws does not shift the decisions of the others.
 */

/** splitmix32: turns any 32-bit value into a well-mixed one (used for seeding only). */
const splitmix32 = (x: number): number => {
  x = (x + 0x9e3779b9) | 0
  let z = x
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a of a label, so sub-streams are named rather than numbered. */
const labelHash = (label: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** A generator for `seed` (a non-negative integer below 2^53); `salt` picks a sub-stream. */
  constructor(seed: number, salt = 0) {
    const lo = seed >>> 0
    const hi = Math.floor(seed / 0x100000000) >>> 0
    this.a = splitmix32(lo ^ salt)
    this.b = splitmix32(this.a ^ hi)
    this.c = splitmix32(this.b + 0x6a09e667)
    this.d = 1
    // Discard the first outputs: sfc32's state needs a few rounds to mix from a weak seed.
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const a = this.a
    const b = this.b
    const c = this.c
    const d = this.d
    const t = (((a + b) | 0) + d) | 0
    this.d = (d + 1) | 0
    this.a = b ^ (b >>> 9)
    this.b = (c + (c << 3)) | 0
    this.c = (((c << 21) | (c >>> 11)) + t) | 0
    return t >>> 0
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** A uniform integer in [lo, hi) (hi > lo). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo))
  }

  /** A uniform float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo)
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** An exponentially distributed value with the given mean (memoryless arrivals). */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: ReadonlyArray<T>): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** An independent generator for the named sub-stream; advances this one by two draws. */
  fork(label: string): Prng {
    return new Prng(this.u32(), splitmix32(this.u32() ^ labelHash(label)))
  }
}
