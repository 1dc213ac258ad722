import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { writeLengthPrefix } from "../../src/transport/codec.ts"
import { makeFramer } from "../../src/transport/framer.ts"

const frameOf = (body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + body.length)
  writeLengthPrefix(out, body.length)
  out.set(body, 4)
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

describe("framer", () => {
  it("reassembles frames however the stream is split into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, cuts) => {
          const stream = concat(bodies.map(frameOf))
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          const framer = makeFramer(1000)
          const got: Array<Array<number>> = []
          let prev = 0
          for (const p of [...points, stream.length]) {
            // A fresh copy per chunk, then scribble on it: the framer must not keep views into chunks.
            const chunk = stream.slice(prev, p)
            const r = framer.push(chunk)
            expect(Result.isSuccess(r)).toBe(true)
            if (Result.isSuccess(r)) for (const f of r.success) got.push(Array.from(f))
            chunk.fill(0xee)
            prev = p
          }
          expect(got).toStrictEqual(bodies.map((b) => Array.from(b)))
          expect(framer.buffered()).toBe(0)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("refuses an oversized length prefix before buffering any of the body", () => {
    const framer = makeFramer(1024)
    const prefix = new Uint8Array(4)
    writeLengthPrefix(prefix, 1025)
    const r = framer.push(prefix)
    expect(Result.isFailure(r) && r.failure).toStrictEqual({ _tag: "Oversized", length: 1025, limit: 1024 })
  })

  it("refuses a hostile 4 GiB prefix split across chunks", () => {
    const framer = makeFramer(1024)
    expect(Result.isSuccess(framer.push(Uint8Array.of(0xff, 0xff)))).toBe(true)
    const r = framer.push(Uint8Array.of(0xff, 0xff, 1, 2, 3))
    expect(Result.isFailure(r) && r.failure._tag).toBe("Oversized")
    expect(framer.buffered()).toBeLessThanOrEqual(7)
  })

  it("accepts a frame of exactly the limit, fed byte by byte, holding at most one frame", () => {
    const framer = makeFramer(64)
    const frame = frameOf(new Uint8Array(64).fill(9))
    let max = 0
    const got: Array<Uint8Array> = []
    for (let i = 0; i < frame.length; i++) {
      const r = framer.push(frame.subarray(i, i + 1))
      if (Result.isFailure(r)) expect.fail("unexpected framing error")
      else got.push(...r.success.map((f) => f.slice()))
      max = Math.max(max, framer.buffered())
    }
    expect(got).toHaveLength(1)
    expect(Array.from(got[0]!)).toStrictEqual(new Array(64).fill(9))
    expect(max).toBeLessThanOrEqual(4 + 64)
  })

  it("refuses an empty frame", () => {
    const r = makeFramer(64).push(Uint8Array.of(0, 0, 0, 0, 1))
    expect(Result.isFailure(r) && r.failure._tag).toBe("EmptyFrame")
  })
})
