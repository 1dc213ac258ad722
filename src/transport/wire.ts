/**
 * Byte-level primitives of the peer wire format: a growable writer and a bounds-checked reader.
 *
 * Integers travel as unsigned LEB128 varints (7 bits per byte, low groups first) of at most 8
 * bytes, which covers every safe integer (2^53 - 1 needs 8 groups). The reader accepts only the
 * shortest form of a value and nothing above `Number.MAX_SAFE_INTEGER`, so every value has one
 * encoding and a decoded number is always a safe non-negative integer.
 *
 * Both sides signal a bad value by throwing {@link WireError}; the frame codec catches it at its
 * boundary and turns it into a typed error, so nothing here escapes to callers.
 */
import { copyPooled } from "./byte-pool.ts"

/** A value that cannot be written, or bytes that cannot be read. Internal to the codec. */
export class WireError extends Error {
  override readonly name = "WireError"
}

/** The most bytes a varint of a safe integer takes. */
const MAX_VARINT_BYTES = 8

const TWO_POW_31 = 2 ** 31

/** Whether `v` is a log index, term, size or id: a safe integer >= 0. */
const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0

/** Appends bytes to a buffer that doubles when full; {@link Writer.finish} copies out the result. */
export class Writer {
  private buffer: Uint8Array
  private position = 0

  constructor(initialBytes = 1024) {
    this.buffer = new Uint8Array(initialBytes)
  }

  /** Start a new value, reusing the buffer. */
  reset(): void {
    this.position = 0
  }

  get length(): number {
    return this.position
  }

  private ensure(bytes: number): void {
    const needed = this.position + bytes
    if (needed <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < needed) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.buffer.subarray(0, this.position))
    this.buffer = grown
  }

  u8(v: number): void {
    this.ensure(1)
    this.buffer[this.position++] = v
  }

  /** A safe integer >= 0 as a varint; anything else is a {@link WireError} naming `what`. */
  uvarint(v: number, what: string): void {
    if (!isIndex(v)) throw new WireError(`${what} must be a safe integer >= 0, got ${v}`)
    this.ensure(MAX_VARINT_BYTES)
    const b = this.buffer
    let p = this.position
    if (v < TWO_POW_31) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80
        v >>>= 7
      }
    } else {
      while (v >= 0x80) {
        b[p++] = (v % 0x80) | 0x80
        v = Math.floor(v / 0x80)
      }
    }
    b[p++] = v
    this.position = p
  }

  bool(v: boolean, what: string): void {
    if (typeof v !== "boolean") throw new WireError(`${what} must be a boolean`)
    this.u8(v ? 1 : 0)
  }

  /** Raw bytes, no length (the layout says how many). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length)
    this.buffer.set(bytes, this.position)
    this.position += bytes.length
  }

  /** A length-prefixed byte string. */
  bytes(bytes: Uint8Array, what: string): void {
    if (!(bytes instanceof Uint8Array)) throw new WireError(`${what} must be a Uint8Array`)
    this.uvarint(bytes.length, what)
    this.raw(bytes)
  }

  /** Reserves `bytes` bytes to fill in later with {@link Writer.patchU32}; returns their offset. */
  skip(bytes: number): number {
    this.ensure(bytes)
    const at = this.position
    this.position += bytes
    return at
  }

  /** Writes a big-endian u32 over bytes reserved earlier (a length known only afterwards). */
  patchU32(at: number, v: number): void {
    const b = this.buffer
    b[at] = (v >>> 24) & 0xff
    b[at + 1] = (v >>> 16) & 0xff
    b[at + 2] = (v >>> 8) & 0xff
    b[at + 3] = v & 0xff
  }

  /** Drops everything written after `at` (a value that failed halfway). */
  rewind(at: number): void {
    this.position = at
  }

  /** A copy of everything written since the last reset, owned by the caller. From the byte pool:
   * what a writer makes is a frame, sent or written and then dropped. */
  finish(): Uint8Array {
    return copyPooled(this.buffer.subarray(0, this.position))
  }

  /** Everything written since the last reset, as a view valid until the writer is next used. */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.position)
  }
}

/**
 * A copy of `bytes` in memory of its own, as a plain Uint8Array. Not `bytes.slice()`: on a Node
 * `Buffer` (what sockets deliver) that is a view, which would keep the whole read chunk alive.
 */
export const copyOf = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes)

/** Reads what a {@link Writer} wrote, failing with {@link WireError} on any inconsistency. */
export class Reader {
  private readonly input: Uint8Array
  private position: number

  constructor(input: Uint8Array, start = 0) {
    this.input = input
    this.position = start
  }

  get remaining(): number {
    return this.input.length - this.position
  }

  u8(what: string): number {
    if (this.position >= this.input.length) throw new WireError(`truncated before ${what}`)
    return this.input[this.position++]!
  }

  uvarint(what: string): number {
    const b = this.input
    let p = this.position
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (p >= b.length) throw new WireError(`truncated inside ${what}`)
      const byte = b[p++]!
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw new WireError(`${what} is not in its shortest form`)
        if (value > Number.MAX_SAFE_INTEGER) throw new WireError(`${what} exceeds 2^53 - 1`)
        this.position = p
        return value
      }
      scale *= 0x80
    }
    throw new WireError(`${what} is longer than ${MAX_VARINT_BYTES} bytes`)
  }

  bool(what: string): boolean {
    const v = this.u8(what)
    if (v > 1) throw new WireError(`${what} must be 0 or 1, got ${v}`)
    return v === 1
  }

  /** `length` raw bytes as a view of the input (the caller copies if it keeps them). */
  view(length: number, what: string): Uint8Array {
    if (length > this.remaining)
      throw new WireError(`${what}: ${length} bytes announced, ${this.remaining} left`)
    const out = this.input.subarray(this.position, this.position + length)
    this.position += length
    return out
  }

  /** A length-prefixed byte string, copied (the result does not alias the input). */
  bytes(what: string): Uint8Array {
    return copyOf(this.view(this.uvarint(what), what))
  }

  /** {@link Reader.bytes} copied into the byte pool: for bytes that die soon (see byte-pool.ts). */
  pooledBytes(what: string): Uint8Array {
    return copyPooled(this.view(this.uvarint(what), what))
  }

  /** A count of items of at least `minItemBytes` each, checked against what is left. */
  count(what: string, minItemBytes: number): number {
    const n = this.uvarint(what)
    if (n * minItemBytes > this.remaining) {
      throw new WireError(`${what} of ${n} cannot fit in the ${this.remaining} bytes left`)
    }
    return n
  }

  /** Fails unless every byte was consumed. */
  end(): void {
    if (this.position !== this.input.length) {
      throw new WireError(`${this.input.length - this.position} unexpected trailing bytes`)
    }
  }
}
