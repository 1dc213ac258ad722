import { Exit, Result, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Message } from "../../src/core/types.ts"
import {
  decodeBody,
  decodeFrame,
  encodeFrame,
  encodeFrames,
  estimateFrameBytes,
  FORMAT_VERSION,
  type FrameDecodeError,
  LENGTH_PREFIX_BYTES,
  readLengthPrefix
} from "../../src/transport/codec.ts"
import { Message as MessageSchema, WireFrame } from "../../src/transport/schema.ts"
import * as Arb from "./arbitraries.ts"

const encodeOk = (frame: WireFrame): Uint8Array => {
  const r = encodeFrame(frame)
  if (Result.isFailure(r)) throw new Error(`encode failed: ${r.failure.detail}`)
  return r.success
}

const bodyOf = (frame: Uint8Array) => frame.subarray(LENGTH_PREFIX_BYTES)

/** Decoding must never throw; returns the result for further checks. */
const decodeSafely = (body: Uint8Array): Result.Result<WireFrame, FrameDecodeError> => {
  let r: Result.Result<WireFrame, FrameDecodeError> | undefined
  expect(() => {
    r = decodeBody(body)
  }).not.toThrow()
  return r!
}

/**
 * A canonical plain form for deep comparison: fast-check builds null-prototype records and the
 * decoder builds plain objects, so compare structure and bytes, not prototypes. Byte arrays must
 * stay byte arrays (a decoded `data` that is not a Uint8Array would not compare equal).
 */
const canon = (value: unknown): unknown => {
  if (value instanceof Uint8Array) return { u8: Array.from(value) }
  if (Array.isArray(value)) return value.map(canon)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canon((value as Record<string, unknown>)[k])])
    )
  }
  return value
}

const expectSameFrame = (decoded: Result.Result<WireFrame, FrameDecodeError>, expected: WireFrame) => {
  expect(Result.isSuccess(decoded)).toBe(true)
  if (Result.isSuccess(decoded)) expect(canon(decoded.success)).toStrictEqual(canon(expected))
}

/** Anything the decoder accepts must satisfy the core's types (checked by the wire schema guard). */
const isValidFrame = Schema.is(WireFrame)

const frameArb = fc.record({
  clusterId: Arb.clusterId,
  from: Arb.nodeId,
  to: Arb.nodeId,
  message: Arb.message
})

describe("frame codec: round trip", () => {
  for (const [tag, arb] of Object.entries(Arb.messageByTag)) {
    it(`${tag} survives encode/decode unchanged`, () => {
      fc.assert(
        fc.property(Arb.clusterId, Arb.nodeId, Arb.nodeId, arb, (clusterId, from, to, message) => {
          const frame: WireFrame = { clusterId, from, to, message: message as Message }
          const bytes = encodeOk(frame)
          expect(readLengthPrefix(bytes, 0)).toBe(bytes.length - LENGTH_PREFIX_BYTES)
          expect(bytes[LENGTH_PREFIX_BYTES]).toBe(FORMAT_VERSION)
          expectSameFrame(decodeFrame(bytes), frame)
        }),
        { numRuns: 150 }
      )
    })
  }

  it("decoded values own their bytes (no aliasing of the input buffer)", () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const bytes = encodeOk(frame)
        const decoded = decodeFrame(bytes)
        bytes.fill(0xab)
        expectSameFrame(decoded, frame)
      }),
      { numRuns: 100 }
    )
  })

  it("an AppendEntries of 64 entries of 128 bytes keeps every entry's own bytes", () => {
    const entries = Array.from({ length: 64 }, (_, i) => ({
      term: 3 + (i % 2),
      kind: i === 0 ? ("noop" as const) : ("command" as const),
      data: i === 0 ? new Uint8Array(0) : new Uint8Array(128).fill(i)
    }))
    const frame: WireFrame = {
      clusterId: "c",
      from: 1,
      to: 2,
      message: {
        _tag: "AppendEntries",
        term: 4,
        prevLogIndex: 10,
        prevLogTerm: 3,
        entries,
        leaderCommit: 9,
        round: 0
      }
    }
    expectSameFrame(decodeFrame(encodeOk(frame)), frame)
  })
})

describe("frame codec: hostile input never throws", () => {
  it("every truncation of a valid body is rejected", () => {
    fc.assert(
      fc.property(frameArb, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (frame, at) => {
        const body = bodyOf(encodeOk(frame))
        const cut = Math.floor(at * body.length)
        const r = decodeSafely(body.subarray(0, cut))
        expect(Result.isFailure(r)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("a body with extra trailing bytes is rejected", () => {
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (frame, extra) => {
        const body = bodyOf(encodeOk(frame))
        const longer = new Uint8Array(body.length + extra.length)
        longer.set(body)
        longer.set(extra, body.length)
        expect(Result.isFailure(decodeSafely(longer))).toBe(true)
      }),
      { numRuns: 200 }
    )
  })

  it("mutated bodies are rejected or decode to a valid frame", () => {
    let rejected = 0
    fc.assert(
      fc.property(
        frameArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        (frame, flips) => {
          const body = bodyOf(encodeOk(frame)).slice()
          for (const [at, xor] of flips) body[at % body.length]! ^= xor
          const r = decodeSafely(body)
          if (Result.isFailure(r)) rejected++
          else expect(isValidFrame(r.success)).toBe(true)
        }
      ),
      { numRuns: 1000 }
    )
    // Most mutations must be caught (a flip inside opaque data can legitimately still decode).
    expect(rejected).toBeGreaterThan(300)
  })

  it("random garbage is rejected or decodes to a valid frame", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 600 }), (versioned, garbage) => {
        const body = versioned ? Uint8Array.of(FORMAT_VERSION, ...garbage) : garbage
        const r = decodeSafely(body)
        if (Result.isSuccess(r)) expect(isValidFrame(r.success)).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("an empty body and an unknown format version are named as such", () => {
    const empty = decodeSafely(new Uint8Array(0))
    expect(Result.isFailure(empty) && empty.failure.reason).toBe("empty")
    const body = bodyOf(
      encodeOk({ clusterId: "c", from: 1, to: 2, message: { _tag: "TimeoutNow", term: 1 } })
    ).slice()
    body[0] = FORMAT_VERSION + 1
    const r = decodeSafely(body)
    expect(Result.isFailure(r) && r.failure.reason).toBe("unsupported-version")
  })

  it("a whole frame whose prefix disagrees with its length is rejected", () => {
    const bytes = encodeOk({ clusterId: "c", from: 1, to: 2, message: { _tag: "TimeoutNow", term: 1 } })
    expect(Result.isFailure(decodeFrame(bytes.subarray(0, bytes.length - 1)))).toBe(true)
    expect(Result.isFailure(decodeFrame(bytes.subarray(0, 3)))).toBe(true)
  })
})

// Bodies written byte by byte, so a test can say what a hostile or buggy peer could send (values
// the encoder refuses to write: node id 0, integers past 2^53, unknown tags and kinds...).
const varint = (value: bigint | number): Array<number> => {
  let code = BigInt(value)
  const out: Array<number> = []
  while (code >= 128n) {
    out.push(Number(code & 127n) | 128)
    code >>= 7n
  }
  out.push(Number(code))
  return out
}
const header = (o: { clusterId?: Array<number>; from?: number; to?: number } = {}): Array<number> => {
  const id = o.clusterId ?? [99] // "c"
  return [FORMAT_VERSION, ...varint(id.length), ...id, ...varint(o.from ?? 1), ...varint(o.to ?? 2)]
}
const TAG_APPEND = 2
const TAG_TIMEOUT_NOW = 6
const TAG_READ_INDEX_REQUEST = 7
/** AppendEntries term 2, prev 5/1, commit 4, round 0, entries: a noop and the command [7, 8, 9]. */
const aeFields = (o: { term?: Array<number>; entries?: Array<number> } = {}): Array<number> => [
  TAG_APPEND,
  ...(o.term ?? [2]),
  5,
  1,
  4,
  0,
  ...(o.entries ?? [2, 2, 0, 0, 2, 1, 3, 7, 8, 9])
]
const body = (...parts: Array<Array<number>>): Uint8Array => Uint8Array.from(parts.flat())

const expectInvalid = (bytes: Uint8Array) => {
  const r = decodeSafely(bytes)
  expect(Result.isFailure(r) && r.failure.reason).toBe("invalid")
}

describe("frame codec: hostile values are rejected at the boundary", () => {
  it("the hand-written bodies below are the encoder's layout (so the rejections are meaningful)", () => {
    const frame: WireFrame = {
      clusterId: "c",
      from: 1,
      to: 2,
      message: {
        _tag: "AppendEntries",
        term: 2,
        prevLogIndex: 5,
        prevLogTerm: 1,
        entries: [
          { term: 2, kind: "noop", data: new Uint8Array(0) },
          { term: 2, kind: "command", data: Uint8Array.of(7, 8, 9) }
        ],
        leaderCommit: 4,
        round: 0
      }
    }
    expect(Array.from(bodyOf(encodeOk(frame)))).toStrictEqual(Array.from(body(header(), aeFields())))
    expectSameFrame(decodeSafely(body(header(), aeFields())), frame)
  })

  it("integers past 2^53 - 1, over-long and non-shortest varints", () => {
    const timeoutNow = (term: Array<number>) => body(header(), [TAG_TIMEOUT_NOW, ...term])
    expect(Result.isSuccess(decodeSafely(timeoutNow(varint(Number.MAX_SAFE_INTEGER))))).toBe(true)
    expectInvalid(timeoutNow(varint(2n ** 53n)))
    expectInvalid(timeoutNow(varint(2n ** 55n)))
    expectInvalid(timeoutNow([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])) // 9 bytes
    expectInvalid(timeoutNow([0x81, 0x00])) // 1, not in its shortest form
    expectInvalid(body(header(), aeFields({ term: varint(2n ** 60n) })))
  })

  it("node ids out of range, an empty, over-long or malformed cluster id", () => {
    const tn = [TAG_TIMEOUT_NOW, 1]
    expect(Result.isSuccess(decodeSafely(body(header({ from: 0x7fff_ffff }), tn)))).toBe(true)
    expectInvalid(body(header({ from: 0 }), tn))
    expectInvalid(body(header({ to: 0 }), tn))
    expectInvalid(body(header({ from: 2 ** 31 }), tn))
    expectInvalid(body(header({ from: 2 ** 40 }), tn))
    expectInvalid(body(header({ clusterId: [] }), tn))
    expectInvalid(body(header({ clusterId: [0xc3, 0x28] }), tn)) // invalid UTF-8
    expectInvalid(body(header({ clusterId: new Array<number>(256).fill(97) }), tn)) // 256 chars
    const longest = new Array<number>(255).fill(97)
    expect(Result.isSuccess(decodeSafely(body(header({ clusterId: longest }), tn)))).toBe(true)
  })

  it("unknown message tags, booleans other than 0 and 1", () => {
    expectInvalid(body(header(), [9, 1]))
    expectInvalid(body(header(), [0xff, 1]))
    const requestVote = (preVote: number) => body(header(), [0, 3, 7, 2, preVote, 0])
    expect(Result.isSuccess(decodeSafely(requestVote(1)))).toBe(true)
    expectInvalid(requestVote(2))
  })

  it("inconsistent entries", () => {
    const entries = (e: Array<number>) => body(header(), aeFields({ entries: e }))
    expectInvalid(entries([2, 2, 0, 0, 2, 1, 4, 7, 8, 9])) // sizes add up to more than the data
    expectInvalid(entries([2, 2, 0, 0, 2, 1, 2, 7, 8, 9])) // ... or to less
    expectInvalid(entries([2, 2, 0, 0, 2, 7, 3, 7, 8, 9])) // unknown kind
    expectInvalid(entries([3, 2, 0, 0, 2, 1, 3, 7, 8, 9])) // one entry header missing
    expectInvalid(entries([...varint(2 ** 40), 2, 0, 0])) // a count that cannot fit
  })

  it("a huge announced count or length is refused without allocating it", () => {
    const ids = body(header(), [TAG_READ_INDEX_REQUEST, 1, ...varint(Number.MAX_SAFE_INTEGER), 1, 2])
    expectInvalid(ids)
    const snapshot = body(header(), [4, 1, 1, 1, 9, 0, 1, ...varint(2 ** 50), 1, 2, 3])
    expectInvalid(snapshot)
  })
})

describe("frame codec: encoding side", () => {
  it("refuses to encode a message that breaks the core's types (a bug upstream)", () => {
    const bad = (message: unknown) =>
      encodeFrame({ clusterId: "c", from: 1, to: 2, message: message as Message })
    for (const message of [
      { _tag: "TimeoutNow", term: -1 },
      { _tag: "TimeoutNow", term: Number.NaN },
      { _tag: "TimeoutNow", term: 0.5 },
      { _tag: "Nope", term: 1 },
      {
        _tag: "AppendEntries",
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 0,
        round: 0,
        entries: [{ term: -1, kind: "command", data: new Uint8Array(1) }]
      },
      {
        _tag: "AppendEntries",
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 0,
        round: 0,
        entries: [{ term: 1, kind: "weird", data: new Uint8Array(1) }]
      },
      {
        _tag: "AppendEntries",
        term: 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        leaderCommit: 0,
        round: 0,
        entries: [{ term: 1, kind: "noop", data: [1, 2] }]
      }
    ]) {
      const r = bad(message)
      expect(Result.isFailure(r) && r.failure.reason).toBe("invalid")
    }
  })

  it("refuses a frame over the size limit", () => {
    const message: Message = {
      _tag: "InstallSnapshot",
      term: 1,
      snapshot: { index: 1, term: 1, size: 5000 },
      offset: 0,
      data: new Uint8Array(5000),
      done: true
    }
    const frame = { clusterId: "c", from: 1, to: 2, message }
    const r = encodeFrame(frame, 4096)
    expect(Result.isFailure(r) && r.failure.reason).toBe("oversized")
    expect(Result.isSuccess(encodeFrame(frame, 8192))).toBe(true)
  })

  it("a batch is the concatenation of its frames, leaving out (and reporting) the bad ones", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), fc.nat(8), (frames, badAt) => {
        const bad: WireFrame = { clusterId: "c", from: 1, to: 2, message: { _tag: "TimeoutNow", term: -1 } }
        const mixed = [...frames.slice(0, badAt), bad, ...frames.slice(badAt)]
        const batch = encodeFrames(mixed, 1 << 20)
        expect(batch.frames).toBe(frames.length)
        expect(batch.failures.map((f) => f.reason)).toStrictEqual(["invalid"])
        const expected = frames.map(encodeOk)
        expect(Array.from(batch.bytes)).toStrictEqual(expected.flatMap((b) => Array.from(b)))
      }),
      { numRuns: 100 }
    )
  })

  it("the size estimate used for queue bounds tracks the encoded size", () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const actual = encodeOk(frame).length
        const estimate = estimateFrameBytes(frame.message) + frame.clusterId.length
        expect(actual).toBeLessThanOrEqual(1.5 * estimate)
        expect(estimate).toBeLessThanOrEqual(2 * actual + 200)
      }),
      { numRuns: 500 }
    )
  })

  it("encodes exactly the frames the wire schema accepts (any field set to an odd value)", () => {
    const odd = fc.oneof(
      fc.integer({ min: -3, max: 3 }),
      fc.double(),
      fc.constantFrom(Number.NaN, 2 ** 53, 2 ** 31, 0.5, "1", true, null, undefined)
    )
    fc.assert(
      fc.property(frameArb, fc.nat(), odd, (frame, pick, value) => {
        const fields = ["clusterId", "from", "to", ...Object.keys(frame.message).filter((k) => k !== "_tag")]
        const field = fields[pick % fields.length]!
        const mutated = (
          field === "clusterId" || field === "from" || field === "to"
            ? { ...frame, [field]: value }
            : { ...frame, message: { ...frame.message, [field]: value } }
        ) as WireFrame
        expect(Result.isSuccess(encodeFrame(mutated))).toBe(isValidFrame(mutated))
      }),
      { numRuns: 1000 }
    )
  })

  it("the Message schema rejects non-integers for the core directly", () => {
    const decode = Schema.decodeUnknownExit(MessageSchema)
    for (const term of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "1"]) {
      expect(Exit.isFailure(decode({ _tag: "TimeoutNow", term }))).toBe(true)
    }
    expect(Exit.isSuccess(decode({ _tag: "TimeoutNow", term: 2 ** 53 - 1 }))).toBe(true)
  })
})
