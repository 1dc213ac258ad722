/**
 * The on-disk encoding: entries round-trip, keys sort in index order, and every kind of damage
 * to a value is detected rather than decoded into a wrong entry.
 */
import { crc32 } from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Entry } from "../../src/core/types.ts"
import {
  checkFormat,
  decodeEntry,
  decodeHardState,
  decodeIdentity,
  encodeEntry,
  encodeFormat,
  entryKey,
  entryKeyIndex
} from "../../src/storage/codec.ts"

const arbEntry: fc.Arbitrary<Entry> = fc.record({
  term: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  kind: fc.constantFrom("noop" as const, "command" as const),
  data: fc.uint8Array({ maxLength: 300 })
})
const arbIndex = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })

const compareBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

describe("storage codec", () => {
  it("entries round-trip exactly", () => {
    fc.assert(
      fc.property(arbEntry, (e) => {
        const d = decodeEntry(encodeEntry(e))
        expect(typeof d).not.toBe("string")
        const got = d as Entry
        expect(got.term).toBe(e.term)
        expect(got.kind).toBe(e.kind)
        expect(Array.from(got.data)).toEqual(Array.from(e.data))
      })
    )
  })

  it("entry keys round-trip and sort bytewise in index order (across the 2^32 boundary)", () => {
    fc.assert(
      fc.property(arbIndex, arbIndex, (a, b) => {
        expect(entryKeyIndex(entryKey(a))).toBe(a)
        expect(Math.sign(compareBytes(entryKey(a), entryKey(b)))).toBe(Math.sign(a - b))
      })
    )
    expect(compareBytes(entryKey(0xffff_ffff), entryKey(0x1_0000_0000))).toBe(-1)
    expect(entryKeyIndex(new Uint8Array([1, 0, 0]))).toBeUndefined()
  })

  it("any single flipped bit or truncation of a value is detected", () => {
    fc.assert(
      fc.property(arbEntry, fc.nat(), fc.integer({ min: 0, max: 7 }), (e, at, bit) => {
        const v = encodeEntry(e)
        const flipped = v.slice()
        flipped[at % v.length]! ^= 1 << bit
        expect(typeof decodeEntry(flipped)).toBe("string")
        expect(typeof decodeEntry(v.subarray(0, v.length - 1 - (at % v.length)))).toBe("string")
      })
    )
  })

  it("names what is wrong with a bad value", () => {
    expect(decodeEntry(new Uint8Array([1, 1]))).toMatch(/too short/)
    // A value with a valid checksum but an unknown kind byte or a zero term.
    const forge = (body: Array<number>) => {
      const v = encodeEntry({ term: 1, kind: "command", data: new Uint8Array(body.length) })
      v.set([...body], 0)
      // Recompute the checksum over the forged body so only the field check can catch it.
      const crc = crc32(v.subarray(0, v.length - 4))
      new DataView(v.buffer, v.byteOffset, v.byteLength).setUint32(v.length - 4, crc, true)
      return v
    }
    expect(decodeEntry(forge([7, 1, 0, 0]))).toMatch(/unknown entry kind byte 7/)
    expect(decodeEntry(forge([1, 0, 0, 0]))).toMatch(/invalid entry term 0/)
  })

  it("meta records are validated on read", () => {
    const enc = new TextEncoder()
    expect(decodeHardState(enc.encode(`{"term":3,"vote":1}`))).toMatchObject({
      success: { term: 3, vote: 1 }
    })
    expect(decodeHardState(enc.encode(`{"term":3}`))._tag).toBe("Failure")
    expect(decodeHardState(enc.encode(`{"term":1.5,"vote":0}`))._tag).toBe("Failure")
    expect(decodeIdentity(enc.encode("not json"))._tag).toBe("Failure")
    expect(checkFormat(encodeFormat())).toBeUndefined()
    expect(checkFormat(enc.encode("raftkv-log/2"))).toMatch(/format version 2 is not supported/)
    expect(checkFormat(enc.encode("something else"))).toMatch(/unrecognised format record/)
  })
})
