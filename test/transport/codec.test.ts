import { Exit, Result, Schema } from "effect"
import { SchemaBinary } from "effect/encoding"
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

// A schema with the same wire layout as WireFrame but without the range checks: it lets the test
// write what a hostile or buggy peer could send (negative indices, node id 0, broken entry columns).
const LooseIndex = Schema.Int
const Loose = {
  RequestVote: Schema.TaggedStruct("RequestVote", {
    term: LooseIndex,
    lastLogIndex: LooseIndex,
    lastLogTerm: LooseIndex,
    preVote: Schema.Boolean,
    transfer: Schema.Boolean
  }),
  AppendEntries: Schema.TaggedStruct("AppendEntries", {
    term: LooseIndex,
    prevLogIndex: LooseIndex,
    prevLogTerm: LooseIndex,
    entries: Schema.Struct({
      terms: Schema.Array(LooseIndex),
      kinds: Schema.Uint8Array,
      sizes: Schema.Array(LooseIndex),
      data: Schema.Uint8Array
    }),
    leaderCommit: LooseIndex,
    round: LooseIndex
  }),
  ReadIndexRequest: Schema.TaggedStruct("ReadIndexRequest", {
    term: LooseIndex,
    ids: Schema.Array(LooseIndex)
  }),
  TimeoutNowAnyNumber: Schema.TaggedStruct("TimeoutNow", { term: Schema.Number })
}
const LooseFrame = Schema.Struct({
  clusterId: Schema.String,
  from: Schema.Int,
  to: Schema.Int,
  message: Schema.Union([
    Loose.RequestVote,
    Loose.AppendEntries,
    Loose.ReadIndexRequest,
    Loose.TimeoutNowAnyNumber
  ])
})
const encodeLoose = Schema.encodeSync(SchemaBinary.toCodec(LooseFrame))
const looseBody = (value: typeof LooseFrame.Type): Uint8Array => {
  const encoded = encodeLoose(value)
  return Uint8Array.of(FORMAT_VERSION, ...encoded)
}

const ENTRIES = { terms: [2, 2], kinds: Uint8Array.of(0, 1), sizes: [0, 3], data: Uint8Array.of(7, 8, 9) }

const ae = (over: Partial<typeof Loose.AppendEntries.Type> = {}): typeof LooseFrame.Type => ({
  clusterId: "c",
  from: 1,
  to: 2,
  message: {
    _tag: "AppendEntries",
    term: 2,
    prevLogIndex: 5,
    prevLogTerm: 1,
    entries: ENTRIES,
    leaderCommit: 4,
    round: 0,
    ...over
  }
})

const expectInvalid = (body: Uint8Array) => {
  const r = decodeSafely(body)
  expect(Result.isFailure(r) && r.failure.reason).toBe("invalid")
}

describe("frame codec: hostile values are rejected at the boundary", () => {
  it("the loose schema writes the same layout (so the rejections below are meaningful)", () => {
    const r = decodeSafely(looseBody(ae()))
    expect(Result.isSuccess(r)).toBe(true)
    if (Result.isSuccess(r) && r.success.message._tag === "AppendEntries") {
      expect(canon(r.success.message.entries)).toStrictEqual(
        canon([
          { term: 2, kind: "noop", data: new Uint8Array(0) },
          { term: 2, kind: "command", data: Uint8Array.of(7, 8, 9) }
        ])
      )
    } else {
      expect.fail("expected an AppendEntries")
    }
  })

  it("negative terms and indices", () => {
    expectInvalid(looseBody(ae({ term: -1 })))
    expectInvalid(looseBody(ae({ prevLogIndex: -5 })))
    expectInvalid(looseBody(ae({ leaderCommit: -1 })))
    expectInvalid(
      looseBody({
        clusterId: "c",
        from: 1,
        to: 2,
        message: { _tag: "ReadIndexRequest", term: 1, ids: [1, -2] }
      })
    )
  })

  it("node ids out of range and an empty cluster id", () => {
    expectInvalid(looseBody({ ...ae(), from: 0 }))
    expectInvalid(looseBody({ ...ae(), to: -3 }))
    expectInvalid(looseBody({ ...ae(), from: 2 ** 40 }))
    expectInvalid(looseBody({ ...ae(), clusterId: "" }))
  })

  it("NaN, infinities and fractions where an integer is expected", () => {
    for (const term of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 60]) {
      expectInvalid(looseBody({ clusterId: "c", from: 1, to: 2, message: { _tag: "TimeoutNow", term } }))
    }
  })

  it("an integer beyond 2^53 written as a varint", () => {
    // Replace the 8-byte varint of MAX_SAFE_INTEGER (sign-magnitude code 2^54 - 2) by one of the
    // same length encoding 2^54: same framing, unsafe value.
    const varint = (code: bigint) => {
      const out: Array<number> = []
      while (code >= 128n) {
        out.push(Number(code & 127n) | 128)
        code >>= 7n
      }
      out.push(Number(code))
      return out
    }
    const body = looseBody({
      clusterId: "c",
      from: 1,
      to: 2,
      message: {
        _tag: "RequestVote",
        term: Number.MAX_SAFE_INTEGER,
        lastLogIndex: 1,
        lastLogTerm: 1,
        preVote: false,
        transfer: false
      }
    })
    const safe = varint(BigInt(Number.MAX_SAFE_INTEGER) * 2n)
    const unsafe = varint(2n ** 55n)
    expect(unsafe.length).toBe(safe.length)
    const at = body.findIndex((_, i) => safe.every((b, j) => body[i + j] === b))
    expect(at).toBeGreaterThan(0)
    expect(Result.isSuccess(decodeSafely(body))).toBe(true)
    const hostile = body.slice()
    hostile.set(unsafe, at)
    expectInvalid(hostile)
  })

  it("inconsistent entry columns", () => {
    const entries = (e: Partial<typeof Loose.AppendEntries.Type.entries>) =>
      looseBody(ae({ entries: { ...ENTRIES, ...e } }))
    expectInvalid(entries({ sizes: [0, 4] })) // sizes do not add up to the data
    expectInvalid(entries({ sizes: [3, 0], data: Uint8Array.of(1, 2) }))
    expectInvalid(entries({ kinds: Uint8Array.of(0, 7) })) // unknown kind
    expectInvalid(entries({ kinds: Uint8Array.of(1) })) // column lengths differ
    expectInvalid(entries({ terms: [2] }))
    expectInvalid(entries({ terms: [2, -1] }))
    expectInvalid(entries({ sizes: [-1, 4] }))
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

  it("the Message schema rejects non-integers for the core directly", () => {
    const decode = Schema.decodeUnknownExit(MessageSchema)
    for (const term of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "1"]) {
      expect(Exit.isFailure(decode({ _tag: "TimeoutNow", term }))).toBe(true)
    }
    expect(Exit.isSuccess(decode({ _tag: "TimeoutNow", term: 2 ** 53 - 1 }))).toBe(true)
  })
})
