/**
 * Small byte-level helpers shared by the command codec and the snapshot format: unsigned LEB128
 * varints for non-negative safe integers, and the key <-> string mapping used inside the store.
 *
 * Decoding never throws: readers return `-1` (or `undefined`) on malformed input and the caller
 * turns that into a typed error.
 */
import { Buffer } from "node:buffer"

/** Bytes an unsigned varint of `n` takes (n is a non-negative safe integer). */
export const varintSize = (n: number): number => {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** Writes `n` (non-negative safe integer) at `pos`; returns the position after it. */
export const writeVarint = (buf: Uint8Array, pos: number, n: number): number => {
  // Bitwise ops are 32-bit in JS: use them only once the value fits.
  while (n >= 0x80000000) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  buf[pos++] = n
  return pos
}

/**
 * A read cursor over one contiguous buffer. Methods return `-1` when the input is malformed
 * (truncated, or a varint beyond 2^53 - 1); `ok` then turns false and stays false, so a
 * decoder can read a whole record and check once at the end.
 */
export class ByteReader {
  buf: Uint8Array
  pos: number
  end: number
  ok = true

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  /** Re-targets the reader (lets hot paths reuse one instance instead of allocating). */
  reset(buf: Uint8Array, pos = 0, end = buf.length): this {
    this.buf = buf
    this.pos = pos
    this.end = end
    this.ok = true
    return this
  }

  get remaining(): number {
    return this.end - this.pos
  }

  u8(): number {
    if (this.pos >= this.end) return this.fail()
    return this.buf[this.pos++]!
  }

  /** An unsigned LEB128 varint up to Number.MAX_SAFE_INTEGER (at most 8 bytes). */
  varint(): number {
    const buf = this.buf
    let pos = this.pos
    let result = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      if (pos >= this.end) return this.fail()
      const b = buf[pos++]!
      result += (b & 0x7f) * mul
      if (b < 0x80) {
        this.pos = pos
        return result <= Number.MAX_SAFE_INTEGER ? result : this.fail()
      }
      mul *= 0x80
    }
    return this.fail()
  }

  /** A view (no copy) of the next `n` bytes, or undefined when fewer remain. */
  bytes(n: number): Uint8Array | undefined {
    if (n < 0 || n > this.end - this.pos) {
      this.fail()
      return undefined
    }
    const view = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return view
  }

  /** 32-bit unsigned little-endian. */
  u32(): number {
    if (this.end - this.pos < 4) return this.fail()
    const b = this.buf
    const p = this.pos
    this.pos = p + 4
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000
  }

  fail(): -1 {
    this.ok = false
    this.pos = this.end
    return -1
  }
}

/** A copy of `bytes` in a fresh buffer of its exact size. (Not `.slice()`: on a Node Buffer,
 * which a caller may well pass, `slice` is a view, not a copy.) */
export const copyBytes = (bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(bytes.length)
  out.set(bytes)
  return out
}

/** 32-bit unsigned little-endian write; returns the position after it. */
export const writeU32 = (buf: Uint8Array, pos: number, n: number): number => {
  buf[pos] = n & 0xff
  buf[pos + 1] = (n >>> 8) & 0xff
  buf[pos + 2] = (n >>> 16) & 0xff
  buf[pos + 3] = (n >>> 24) & 0xff
  return pos + 4
}

// Node's Buffer exposes latin1Slice on its prototype; it works on any Uint8Array and maps each
// byte to the char with the same code (a bijection, unlike TextDecoder's "latin1", which is
// windows-1252). Measured fastest of latin1/hex/base64/fromCharCode (bench notes in state-machine.ts).
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(start: number, end: number): string })
  .latin1Slice

/** The store's internal key form: one char per byte (a compact one-byte V8 string). */
export const keyToString = (key: Uint8Array): string => latin1Slice.call(key, 0, key.length)

/** Inverse of {@link keyToString}. */
export const stringToKey = (s: string): Uint8Array => {
  const b = Buffer.from(s, "latin1")
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** Writes latin1 key string `s` at `pos` of `buf`; returns the position after it. */
export const writeKeyString = (buf: Buffer, pos: number, s: string): number => {
  const n = s.length
  // A JS loop beats the native call for short keys.
  if (n <= 32) {
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i)
    return pos + n
  }
  return pos + buf.write(s, pos, n, "latin1")
}
