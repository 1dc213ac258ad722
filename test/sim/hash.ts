/** 32-bit hashing helpers (murmur3-style mixing): cheap, deterministic, good enough to tell two
 * histories apart in a test. */

/** Fold one 32-bit value into a running hash. */
export const mix = (h: number, v: number): number => {
  let k = Math.imul(v | 0, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** Final avalanche, so nearby inputs give unrelated outputs. */
export const finish = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Fold a (possibly fractional or large) number in exactly. */
export const mixNumber = (h: number, v: number): number => {
  if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return mix(h, v)
  const hi = Math.floor(v / 0x100000000)
  return mix(mix(h, hi), Math.round((v - hi * 0x100000000) * 1024))
}

/** Fold a byte string in. */
export const mixBytes = (h: number, bytes: Uint8Array): number => {
  h = mix(h, bytes.length)
  for (let i = 0; i < bytes.length; i++) h = mix(h, bytes[i]!)
  return h
}

/** Fold a string in (for trace hashing of tags). */
export const mixString = (h: number, s: string): number => {
  h = mix(h, s.length)
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i))
  return h
}

/** Byte-wise equality. */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
