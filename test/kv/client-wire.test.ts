/**
 * The client port's wire format (src/kv/client-wire.ts) and both ends that speak it: the server
 * (src/server/KvServer.ts, driven here with raw sockets that send what a real client never would)
 * and the client's connection pool (src/client/connections.ts, against plain node:net servers that
 * misbehave on purpose). Real-time waits are bounded polls for a condition.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Result, Schema, type Scope } from "effect"
import fc from "fast-check"
import * as Net from "node:net"
import { makePool } from "../../src/client/connections.ts"
import { ConnectionLost, NodeUnreachable, RequestRefused } from "../../src/client/errors.ts"
import {
  decodeRequest,
  decodeResponse,
  encodeAnswer,
  encodeError,
  encodeRefused,
  encodeRequest,
  MAX_CLIENT_FRAME_BYTES,
  type Malformed,
  type Request,
  type Response,
  WIRE_METHODS,
  type WireErrorValue,
  type WireMethod
} from "../../src/kv/client-wire.ts"
import {
  Busy,
  CloseSessionRequest,
  CloseSessionResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  KeyTooLarge,
  type KvApi,
  LeadershipLost,
  NodeStatus,
  NotLeader,
  OpenSessionResponse,
  PutRequest,
  PutResponse,
  ReadNotConfirmed,
  SessionExpired,
  StaleSequence,
  ValueTooLarge,
  VersionMismatch
} from "../../src/kv/protocol.ts"
import { serveClients } from "../../src/server/KvServer.ts"
import { makeFramer } from "../../src/transport/framer.ts"
import { WireError } from "../../src/transport/wire.ts"
import { captureLogs, eventually, freePort } from "../transport/helpers.ts"

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const METHODS = WIRE_METHODS

/** The body of a frame, after checking that its 4-byte big-endian prefix states the body's length. */
const bodyOf = (frame: Uint8Array): Uint8Array => {
  expect(frame.length).toBeGreaterThanOrEqual(4)
  const stated = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0)
  expect(stated).toBe(frame.length - 4)
  return frame.subarray(4)
}

/** A frame around raw body bytes (for bodies no encoder would write). */
const framed = (body: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(Array.from(body), 4)
  return out
}

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) return assert.fail(`expected a success, got ${JSON.stringify(r.failure)}`)
  return r.success
}

const malformed = <A>(r: Result.Result<A, Malformed>): Malformed => {
  if (Result.isSuccess(r)) return assert.fail(`expected Malformed, got ${JSON.stringify(r.success)}`)
  expect(r.failure._tag).toBe("Malformed")
  expect(typeof r.failure.detail).toBe("string")
  return r.failure
}

/** `decodeResponse` for a client waiting on `id` with `method` only. */
const waitingFor = (id: number, method: WireMethod) => (x: number) => (x === id ? method : undefined)

const bytes = (...values: ReadonlyArray<number>) => Uint8Array.from(values)

const status = (id: number, leader: number | null = 1): NodeStatus => ({
  id,
  role: "leader",
  term: 3,
  leader,
  commitIndex: 9,
  appliedIndex: 8
})

/** The typed failure of an exit (a defect or an interruption fails the test). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = Cause.findError(exit.cause)
  if (Result.isFailure(error)) return assert.fail(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return error.success
}

const connectionLost = <A, E>(exit: Exit.Exit<A, E>): ConnectionLost => {
  const error = failureOf(exit)
  assert.instanceOf(error, ConnectionLost)
  return error
}

const succeeded = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) return assert.fail(`expected a success, got ${Cause.pretty(exit.cause)}`)
  return exit.value
}

/** Runs `body` with logs captured (kept off the console); hands the lines to `body`. */
const withLogs = <A, E, R>(body: (lines: ReadonlyArray<string>) => Effect.Effect<A, E, R>) => {
  const { lines, layer } = captureLogs()
  return Effect.provide(body(lines), layer)
}

// ---------------------------------------------------------------------------------------------
// Fixtures: one of everything
// ---------------------------------------------------------------------------------------------

const KEY = bytes(0x6b, 0x00, 0xff)
const VALUE = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff)

/** Every request method, with ids of 1, 2 and 8 varint bytes and fields at their edges. */
const REQUESTS: ReadonlyArray<Request> = [
  { method: "Get", id: 1, payload: { key: KEY, consistency: "stale" } },
  { method: "Get", id: 300, payload: { key: new Uint8Array(0), consistency: "linearizable" } },
  { method: "Put", id: 2, payload: { session: 7, seq: 128, ack: 127, key: KEY, value: VALUE } },
  {
    method: "Put",
    id: Number.MAX_SAFE_INTEGER,
    payload: { session: 2 ** 40, seq: 1, ack: 0, key: KEY, value: new Uint8Array(0), expectedVersion: 0 }
  },
  { method: "Delete", id: 3, payload: { session: 1, seq: 2, ack: 1, key: KEY } },
  { method: "Delete", id: 4, payload: { session: 1, seq: 3, ack: 2, key: KEY, expectedVersion: 12345 } },
  { method: "OpenSession", id: 5, payload: undefined },
  { method: "CloseSession", id: 6, payload: { session: Number.MAX_SAFE_INTEGER } },
  { method: "Status", id: 7, payload: undefined },
  { method: "Ping", id: 0, payload: undefined }
]

const GET_FOUND: GetResponse = { entry: { value: VALUE, version: 42 }, appliedIndex: 100, commitIndex: 101 }
const GET_ABSENT: GetResponse = { entry: null, appliedIndex: 0, commitIndex: 2 ** 50 }

/** Every answer type: method and value. */
const ANSWERS: ReadonlyArray<{ readonly method: WireMethod; readonly value: unknown }> = [
  { method: "Get", value: GET_FOUND },
  { method: "Get", value: GET_ABSENT },
  {
    method: "Get",
    value: { entry: { value: new Uint8Array(0), version: 0 }, appliedIndex: 1, commitIndex: 1 }
  },
  { method: "Put", value: { version: 1 } },
  { method: "Put", value: { version: Number.MAX_SAFE_INTEGER } },
  { method: "Delete", value: { deleted: true } },
  { method: "Delete", value: { deleted: false } },
  { method: "OpenSession", value: { session: 99 } },
  { method: "CloseSession", value: { closed: true } },
  { method: "CloseSession", value: { closed: false } },
  { method: "Status", value: status(1, 1) },
  { method: "Status", value: status(2, null) },
  { method: "Status", value: { ...status(3, 0), role: "follower" } },
  { method: "Status", value: { ...status(4, 7), role: "candidate" } },
  { method: "Status", value: { ...status(5, null), role: "precandidate" } },
  { method: "Ping", value: undefined }
]

/** Every error class, with and without its optional fields, and a method each may answer. */
const ERRORS: ReadonlyArray<{ readonly method: WireMethod; readonly error: WireErrorValue }> = [
  { method: "Put", error: new NotLeader({}) },
  { method: "Get", error: new NotLeader({ leaderHint: "10.0.0.2:7001" }) },
  { method: "Put", error: new Busy() },
  { method: "OpenSession", error: new LeadershipLost({}) },
  { method: "CloseSession", error: new LeadershipLost({ leaderHint: "nöde-3:7003" }) },
  { method: "Get", error: new ReadNotConfirmed({ reason: "NotLeader" }) },
  { method: "Get", error: new ReadNotConfirmed({ reason: "LeadershipLost", leaderHint: "h:1" }) },
  { method: "Get", error: new ReadNotConfirmed({ reason: "NoLeader" }) },
  { method: "Delete", error: new VersionMismatch({ currentVersion: 0 }) },
  { method: "Put", error: new VersionMismatch({ currentVersion: 2 ** 45 }) },
  { method: "Put", error: new SessionExpired({ session: 77 }) },
  { method: "Delete", error: new StaleSequence({ session: 3, seq: 4 }) },
  { method: "Get", error: new KeyTooLarge({ size: 5000, limit: 4096 }) },
  { method: "Put", error: new ValueTooLarge({ size: 2 ** 21, limit: 2 ** 20 }) }
]

/** Which errors each call may fail with, as protocol.ts types them (GetError, PutError...). */
const MAY_FAIL_WITH: Readonly<Record<WireMethod, ReadonlyArray<WireErrorValue["_tag"]>>> = {
  Get: ["NotLeader", "ReadNotConfirmed", "Busy", "KeyTooLarge"],
  Put: [
    "NotLeader",
    "Busy",
    "LeadershipLost",
    "VersionMismatch",
    "SessionExpired",
    "StaleSequence",
    "KeyTooLarge",
    "ValueTooLarge"
  ],
  Delete: [
    "NotLeader",
    "Busy",
    "LeadershipLost",
    "VersionMismatch",
    "SessionExpired",
    "StaleSequence",
    "KeyTooLarge"
  ],
  OpenSession: ["NotLeader", "Busy", "LeadershipLost"],
  CloseSession: ["NotLeader", "Busy", "LeadershipLost"],
  Status: [],
  Ping: []
}

/** Asserts `decoded` is an instance of `expected`'s class with exactly its fields (an absent
 * optional field stays absent). */
const expectSameError = (decoded: WireErrorValue, expected: WireErrorValue) => {
  expect(decoded).toBeInstanceOf(expected.constructor)
  expect({ ...decoded }).toStrictEqual({ ...expected })
}

// ---------------------------------------------------------------------------------------------
// fast-check arbitraries (written from protocol.ts's types, not from the codec)
// ---------------------------------------------------------------------------------------------

const uint: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.nat(1000),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constant(Number.MAX_SAFE_INTEGER)
)
const someBytes = fc.uint8Array({ maxLength: 40 })
const hint = fc.option(fc.string({ maxLength: 30 }), { nil: undefined })
const hintField = (h: string | undefined) => (h === undefined ? {} : { leaderHint: h })

/** Records with Object's prototype, as the decoder builds them (toStrictEqual compares prototypes). */
const PLAIN = { noNullPrototype: true } as const

const writeFields = fc.record(
  { session: uint, seq: uint, ack: uint, key: someBytes, expectedVersion: uint },
  { requiredKeys: ["session", "seq", "ack", "key"], noNullPrototype: true }
)

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  fc
    .record(
      {
        id: uint,
        key: someBytes,
        consistency: fc.constantFrom("stale" as const, "linearizable" as const)
      },
      PLAIN
    )
    .map(({ id, key, consistency }): Request => ({ method: "Get", id, payload: { key, consistency } })),
  fc
    .tuple(uint, writeFields, someBytes)
    .map(([id, w, value]): Request => ({ method: "Put", id, payload: { ...w, value } })),
  fc.tuple(uint, writeFields).map(([id, w]): Request => ({ method: "Delete", id, payload: w })),
  fc
    .tuple(uint, uint)
    .map(([id, session]): Request => ({ method: "CloseSession", id, payload: { session } })),
  fc
    .tuple(uint, fc.constantFrom("OpenSession" as const, "Status" as const, "Ping" as const))
    .map(([id, method]): Request => ({ method, id, payload: undefined }))
)

const answerArb: fc.Arbitrary<{ readonly method: WireMethod; readonly value: unknown }> = fc.oneof(
  fc.constant({ method: "Ping" as const, value: undefined }),
  fc
    .record(
      {
        entry: fc.option(fc.record({ value: someBytes, version: uint }, PLAIN), { nil: null }),
        appliedIndex: uint,
        commitIndex: uint
      },
      PLAIN
    )
    .map((value) => ({ method: "Get" as const, value })),
  uint.map((version) => ({ method: "Put" as const, value: { version } })),
  fc.boolean().map((deleted) => ({ method: "Delete" as const, value: { deleted } })),
  uint.map((session) => ({ method: "OpenSession" as const, value: { session } })),
  fc.boolean().map((closed) => ({ method: "CloseSession" as const, value: { closed } })),
  fc
    .record(
      {
        id: uint,
        role: fc.constantFrom(
          "leader" as const,
          "follower" as const,
          "candidate" as const,
          "precandidate" as const
        ),
        term: uint,
        leader: fc.option(uint, { nil: null }),
        commitIndex: uint,
        appliedIndex: uint
      },
      PLAIN
    )
    .map((value) => ({ method: "Status" as const, value }))
)

const errorArb: fc.Arbitrary<WireErrorValue> = fc.oneof(
  hint.map((h) => new NotLeader(hintField(h))),
  fc.constant(new Busy()),
  hint.map((h) => new LeadershipLost(hintField(h))),
  fc
    .tuple(fc.constantFrom("NotLeader" as const, "LeadershipLost" as const, "NoLeader" as const), hint)
    .map(([reason, h]) => new ReadNotConfirmed({ reason, ...hintField(h) })),
  uint.map((currentVersion) => new VersionMismatch({ currentVersion })),
  uint.map((session) => new SessionExpired({ session })),
  fc.tuple(uint, uint).map(([session, seq]) => new StaleSequence({ session, seq })),
  fc.tuple(uint, uint).map(([size, limit]) => new KeyTooLarge({ size, limit })),
  fc.tuple(uint, uint).map(([size, limit]) => new ValueTooLarge({ size, limit }))
)

/** A method that may fail with `error` (ReadNotConfirmed answers only Get; Put takes the rest). */
const methodFor = (error: WireErrorValue): WireMethod => (error._tag === "ReadNotConfirmed" ? "Get" : "Put")

// ---------------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------------

describe("client wire: round trips", () => {
  it.each(REQUESTS.map((r): [string, Request] => [`${r.method} #${r.id}`, r]))(
    "request %s decodes to itself",
    (_, request) => {
      const decoded = ok(decodeRequest(bodyOf(encodeRequest(request))))
      // Strict: an absent expectedVersion must stay absent (exactOptionalPropertyTypes).
      expect(decoded).toStrictEqual(request)
    }
  )

  it("a decoded request does not alias the frame it came from (the framer reuses its buffer)", () => {
    const body = bodyOf(encodeRequest(REQUESTS[2]!)).slice()
    const decoded = ok(decodeRequest(body))
    body.fill(0)
    assert(decoded.method === "Put")
    expect(decoded.payload.key).toStrictEqual(KEY)
    expect(decoded.payload.value).toStrictEqual(VALUE)
  })

  // Sockets deliver node Buffers, and the framer hands out views of the chunk when a frame lies
  // whole in it. Buffer#slice is a view, not a copy (unlike Uint8Array#slice), so bytes "copied"
  // with .slice() would keep the whole read chunk alive and change with it.
  it("keys and values decoded from a node Buffer are copies, not views of it", () => {
    const request = Buffer.from(bodyOf(encodeRequest(REQUESTS[2]!)))
    const put = ok(decodeRequest(request))
    assert(put.method === "Put")
    const answer = Buffer.from(bodyOf(encodeAnswer("Get", 1, GET_FOUND)))
    const get = ok(decodeResponse(answer, () => "Get"))
    assert(get.outcome === "answer")
    const found = (get.value as GetResponse).entry
    request.fill(0)
    answer.fill(0)
    expect(Array.from(put.payload.key)).toEqual(Array.from(KEY))
    expect(Array.from(put.payload.value)).toEqual(Array.from(VALUE))
    expect(Array.from(found?.value ?? [])).toEqual(Array.from(VALUE))
    expect(put.payload.value.buffer).not.toBe(request.buffer)
    expect(found?.value.buffer).not.toBe(answer.buffer)
  })

  it("any request decodes to itself (property)", () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        expect(ok(decodeRequest(bodyOf(encodeRequest(request))))).toStrictEqual(request)
      }),
      { numRuns: 500 }
    )
  })

  it.each(ANSWERS.map((a, i): [string, (typeof ANSWERS)[number]] => [`${a.method} (${i})`, a]))(
    "answer to %s decodes to itself",
    (_, a) => {
      const id = 1000 + ANSWERS.indexOf(a)
      const response = ok(
        decodeResponse(bodyOf(encodeAnswer(a.method, id, a.value)), waitingFor(id, a.method))
      )
      expect(response).toStrictEqual({ outcome: "answer", id, value: a.value })
    }
  )

  it("any answer decodes to itself (property)", () => {
    fc.assert(
      fc.property(answerArb, uint, ({ method, value }, id) => {
        const response = decodeResponse(bodyOf(encodeAnswer(method, id, value)), () => method)
        expect(ok(response)).toStrictEqual({ outcome: "answer", id, value })
      }),
      { numRuns: 500 }
    )
  })

  it.each(ERRORS.map((e): [string, (typeof ERRORS)[number]] => [`${e.error._tag} answering ${e.method}`, e]))(
    "error %s decodes to the same class and fields",
    (_, { method, error }) => {
      const response = ok(decodeResponse(bodyOf(encodeError(77, error)), waitingFor(77, method)))
      assert(response.outcome === "error")
      expect(response.id).toBe(77)
      expectSameError(response.error, error)
    }
  )

  it("any error decodes to the same class and fields (property)", () => {
    fc.assert(
      fc.property(errorArb, uint, (error, id) => {
        const response = ok(decodeResponse(bodyOf(encodeError(id, error)), () => methodFor(error)))
        assert(response.outcome === "error")
        expect(response.id).toBe(id)
        expectSameError(response.error, error)
      }),
      { numRuns: 500 }
    )
  })

  it("a refusal decodes to outcome 'refused' with its reason (any Unicode)", () => {
    for (const reason of ["", "malformed request: truncated before key", "ünïcödé ✓ 🚀"]) {
      const response = ok(decodeResponse(bodyOf(encodeRefused(300, reason)), waitingFor(300, "Get")))
      expect(response).toStrictEqual({ outcome: "refused", id: 300, reason })
    }
  })

  // TextDecoder strips a leading byte order mark unless told not to (`ignoreBOM: true`), so a
  // string that starts with U+FEFF comes back one character shorter.
  it("a string starting with U+FEFF survives the round trip (leaderHint and refusal reason)", () => {
    const text = "\uFEFFnode-2:7001"
    const refused = ok(decodeResponse(bodyOf(encodeRefused(1, text)), () => "Get"))
    expect(refused).toStrictEqual({ outcome: "refused", id: 1, reason: text })
    const error = ok(decodeResponse(bodyOf(encodeError(1, new NotLeader({ leaderHint: text }))), () => "Get"))
    assert(error.outcome === "error")
    expectSameError(error.error, new NotLeader({ leaderHint: text }))
  })

  it("an answer nobody waits for is 'stray', whatever follows its id", () => {
    const asked: Array<number> = []
    const methodOf = (id: number) => {
      asked.push(id)
      return undefined
    }
    expect(ok(decodeResponse(bodyOf(encodeAnswer("Status", 5, status(1))), methodOf))).toStrictEqual({
      outcome: "stray",
      id: 5
    })
    expect(ok(decodeResponse(bodyOf(encodeError(2 ** 40, new Busy())), methodOf))).toStrictEqual({
      outcome: "stray",
      id: 2 ** 40
    })
    expect(asked).toEqual([5, 2 ** 40])
  })

  it("every error/method pair decodes exactly when the method may fail with that error", () => {
    const samples: ReadonlyArray<WireErrorValue> = ERRORS.map((e) => e.error)
    for (const method of METHODS) {
      for (const error of samples) {
        const decoded = decodeResponse(bodyOf(encodeError(9, error)), () => method)
        if (MAY_FAIL_WITH[method].includes(error._tag)) {
          const response = ok(decoded)
          assert(response.outcome === "error")
          expectSameError(response.error, error)
        } else {
          expect(malformed(decoded).detail).toBe(`${error._tag} is not an answer to ${method}`)
        }
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------
// 2. Malformed input: a reason, never a throw
// ---------------------------------------------------------------------------------------------

describe("client wire: malformed input is refused with a reason", () => {
  // Id 300 takes two varint bytes: the id is readable from 3 bytes on.
  const putBody = bodyOf(
    encodeRequest({
      method: "Put",
      id: 300,
      payload: { session: 1000, seq: 2, ack: 1, key: KEY, value: bytes(1, 2, 3), expectedVersion: 5 }
    })
  )

  it("a Put cut at every length fails, naming its id once the id is readable", () => {
    expect(ok(decodeRequest(putBody)).id).toBe(300)
    for (let n = 0; n < putBody.length; n++) {
      const failure = malformed(decodeRequest(putBody.subarray(0, n)))
      if (n < 3) expect(failure.id, `cut at ${n}`).toBeUndefined()
      else expect(failure.id, `cut at ${n}`).toBe(300)
      expect(failure.detail, `cut at ${n}`).toMatch(/truncated|announced/)
    }
  })

  it("answers cut at every length fail", () => {
    const frames: ReadonlyArray<readonly [WireMethod, Uint8Array]> = [
      ["Get", encodeAnswer("Get", 300, GET_FOUND)],
      ["Status", encodeAnswer("Status", 300, status(1, 2))],
      ["Get", encodeError(300, new ReadNotConfirmed({ reason: "NoLeader", leaderHint: "x:1" }))],
      ["Put", encodeRefused(300, "why")]
    ]
    for (const [method, frame] of frames) {
      const body = bodyOf(frame)
      ok(decodeResponse(body, () => method))
      for (let n = 0; n < body.length; n++) malformed(decodeResponse(body.subarray(0, n), () => method))
    }
  })

  it("trailing bytes are refused, in requests (with the id) and in answers", () => {
    for (const request of REQUESTS) {
      const body = Uint8Array.from([...bodyOf(encodeRequest(request)), 0])
      const failure = malformed(decodeRequest(body))
      expect(failure.id).toBe(request.id)
      expect(failure.detail).toBe("1 unexpected trailing bytes")
    }
    for (const { method, value } of ANSWERS) {
      const body = Uint8Array.from([...bodyOf(encodeAnswer(method, 1, value)), 0, 0])
      expect(malformed(decodeResponse(body, () => method)).detail).toBe("2 unexpected trailing bytes")
    }
    const refused = Uint8Array.from([...bodyOf(encodeRefused(1, "r")), 1])
    malformed(decodeResponse(refused, () => "Get"))
  })

  it("an unknown method code is refused, naming the id", () => {
    for (const code of [0, 8, 255]) {
      const failure = malformed(decodeRequest(bytes(code, 42)))
      expect(failure).toStrictEqual({ _tag: "Malformed", detail: `unknown method code ${code}`, id: 42 })
    }
    // Nothing but the method byte: no id to answer.
    expect(malformed(decodeRequest(bytes(6))).id).toBeUndefined()
    expect(malformed(decodeRequest(new Uint8Array(0))).id).toBeUndefined()
  })

  it("an unknown outcome is refused", () => {
    for (const outcome of [3, 128, 255]) {
      expect(malformed(decodeResponse(bytes(outcome, 1), () => "Status")).detail).toBe(
        `unknown outcome ${outcome}`
      )
    }
  })

  it("unknown codes inside a value are refused (error, read reason, role, bool)", () => {
    const get = (id: number) => (x: number) => (x === id ? ("Get" as const) : undefined)
    expect(malformed(decodeResponse(bytes(1, 1, 0), get(1))).detail).toMatch(/error code/)
    expect(malformed(decodeResponse(bytes(1, 1, 10), get(1))).detail).toMatch(/error code/)
    // ReadNotConfirmed (code 4) with reason 3 (there are three: 0..2).
    expect(malformed(decodeResponse(bytes(1, 1, 4, 3, 0), get(1))).detail).toMatch(/reason code 3/)
    // Status: id 1, role 4 (there are four: 0..3).
    expect(malformed(decodeResponse(bytes(0, 1, 1, 4, 1, 0, 1, 1), () => "Status")).detail).toMatch(
      /role code 4/
    )
    // Get with consistency 2: a bool is 0 or 1.
    expect(malformed(decodeRequest(bytes(1, 9, 0, 2)))).toStrictEqual({
      _tag: "Malformed",
      detail: "consistency must be 0 or 1, got 2",
      id: 9
    })
  })

  it("varints not in their shortest form, too long or above 2^53 - 1 are refused", () => {
    // The request id 0 written in two bytes: no id can be reported.
    const longId = malformed(decodeRequest(bytes(6, 0x80, 0x00)))
    expect(longId.detail).toBe("request id is not in its shortest form")
    expect(longId.id).toBeUndefined()
    // A session of 1 written in two bytes, in CloseSession 9.
    expect(malformed(decodeRequest(bytes(5, 9, 0x81, 0x00)))).toStrictEqual({
      _tag: "Malformed",
      detail: "session is not in its shortest form",
      id: 9
    })
    // An answer's version of 0 written in three bytes.
    expect(malformed(decodeResponse(bytes(0, 1, 0x80, 0x80, 0x00), () => "Put")).detail).toMatch(/shortest/)
    // 2^56 - 1: eight bytes, but not a safe integer.
    expect(malformed(decodeRequest(bytes(6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))).detail).toMatch(
      /exceeds 2\^53 - 1/
    )
    expect(
      malformed(decodeRequest(bytes(6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).detail
    ).toMatch(/longer than 8 bytes/)
  })

  it("a length that announces more bytes than the frame holds is refused", () => {
    // Get 5, key of 100 bytes announced, 2 present.
    expect(malformed(decodeRequest(bytes(1, 5, 100, 1, 2)))).toStrictEqual({
      _tag: "Malformed",
      detail: "key: 100 bytes announced, 2 left",
      id: 5
    })
  })

  it("invalid UTF-8 in a leaderHint or a refusal reason is refused", () => {
    // NotLeader (code 1) answering request 1, hint present, 2 bytes that are not UTF-8.
    expect(malformed(decodeResponse(bytes(1, 1, 1, 1, 2, 0xff, 0xfe), () => "Get")).detail).toBe(
      "leaderHint is not UTF-8"
    )
    // ReadNotConfirmed, reason NoLeader, a lone continuation byte as the hint.
    expect(malformed(decodeResponse(bytes(1, 1, 4, 2, 1, 1, 0x80), () => "Get")).detail).toBe(
      "leaderHint is not UTF-8"
    )
    // A refusal whose reason is a truncated 3-byte sequence.
    expect(malformed(decodeResponse(bytes(2, 1, 2, 0xe2, 0x82), () => "Get")).detail).toBe(
      "reason is not UTF-8"
    )
  })

  it("an error its method cannot fail with is refused", () => {
    const cases: ReadonlyArray<readonly [WireMethod, WireErrorValue]> = [
      ["Get", new ValueTooLarge({ size: 2, limit: 1 })],
      ["Status", new VersionMismatch({ currentVersion: 1 })],
      ["Ping", new Busy()],
      ["Delete", new ValueTooLarge({ size: 2, limit: 1 })],
      ["OpenSession", new SessionExpired({ session: 1 })],
      ["Put", new ReadNotConfirmed({ reason: "NoLeader" })]
    ]
    for (const [method, error] of cases) {
      expect(malformed(decodeResponse(bodyOf(encodeError(1, error)), () => method)).detail).toBe(
        `${error._tag} is not an answer to ${method}`
      )
    }
  })

  // The Schemas of protocol.ts stay the specification: whatever the hand-written decoders accept,
  // from any bytes, is a value those schemas accept.
  it("everything the decoders accept passes the protocol's Schemas (property)", () => {
    const requestSchemas: Record<WireMethod, ((u: unknown) => boolean) | undefined> = {
      Get: Schema.is(GetRequest),
      Put: Schema.is(PutRequest),
      Delete: Schema.is(DeleteRequest),
      CloseSession: Schema.is(CloseSessionRequest),
      OpenSession: undefined,
      Status: undefined,
      Ping: undefined
    }
    const answerSchemas: Record<WireMethod, ((u: unknown) => boolean) | undefined> = {
      Get: Schema.is(GetResponse),
      Put: Schema.is(PutResponse),
      Delete: Schema.is(DeleteResponse),
      OpenSession: Schema.is(OpenSessionResponse),
      CloseSession: Schema.is(CloseSessionResponse),
      Status: Schema.is(NodeStatus),
      Ping: undefined
    }
    const corrupted = (frame: Uint8Array, at: number, byte: number) => {
      const body = bodyOf(frame).slice()
      body[at % body.length] = byte
      return body
    }
    let requests = 0
    let answers = 0
    fc.assert(
      fc.property(requestArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (request, at, byte) => {
        const decoded = decodeRequest(corrupted(encodeRequest(request), at, byte))
        if (Result.isFailure(decoded)) return
        const is = requestSchemas[decoded.success.method]
        if (is === undefined) expect(decoded.success.payload).toBeUndefined()
        else expect(is(decoded.success.payload)).toBe(true)
        requests++
      }),
      { numRuns: 2000 }
    )
    fc.assert(
      fc.property(answerArb, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ method, value }, at, byte) => {
        const decoded = decodeResponse(corrupted(encodeAnswer(method, 1, value), at, byte), () => method)
        if (Result.isFailure(decoded) || decoded.success.outcome !== "answer") return
        const is = answerSchemas[method]
        if (is === undefined) expect(decoded.success.value).toBeUndefined()
        else expect(is(decoded.success.value)).toBe(true)
        answers++
      }),
      { numRuns: 2000 }
    )
    // Most corruptions still decode (a changed byte inside a key or a number): the check ran.
    expect(requests).toBeGreaterThan(500)
    expect(answers).toBeGreaterThan(500)
  })

  it("random bytes never make a decoder throw (property)", () => {
    const methodOf = fc.constantFrom<WireMethod | undefined>(...METHODS, undefined)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), methodOf, (body, method) => {
        const request = decodeRequest(body)
        expect(Result.isSuccess(request) || request.failure._tag === "Malformed").toBe(true)
        const response = decodeResponse(body, () => method)
        expect(Result.isSuccess(response) || response.failure._tag === "Malformed").toBe(true)
      }),
      { numRuns: 5000 }
    )
  })

  // One encoding per value: whatever a corrupted frame decodes to, encoding it again gives
  // exactly those bytes back, so nothing was silently skipped or reinterpreted.
  it("a corrupted request frame is refused or decodes to a value that re-encodes to it (property)", () => {
    fc.assert(
      fc.property(requestArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (request, at, byte) => {
        const body = bodyOf(encodeRequest(request)).slice()
        body[at % body.length] = byte
        const decoded = decodeRequest(body)
        if (Result.isSuccess(decoded)) expect(bodyOf(encodeRequest(decoded.success))).toStrictEqual(body)
      }),
      { numRuns: 3000 }
    )
  })

  it("a corrupted response frame is refused or decodes to a value that re-encodes to it (property)", () => {
    const responseArb = fc.oneof(
      fc
        .tuple(answerArb, uint)
        .map(([{ method, value }, id]) => ({ method, frame: encodeAnswer(method, id, value) })),
      fc
        .tuple(errorArb, uint)
        .map(([error, id]) => ({ method: methodFor(error), frame: encodeError(id, error) })),
      fc
        .tuple(fc.string({ maxLength: 20 }), uint)
        .map(([reason, id]) => ({ method: "Get" as WireMethod, frame: encodeRefused(id, reason) }))
    )
    const reencode = (method: WireMethod, response: Response): Uint8Array | undefined => {
      switch (response.outcome) {
        case "answer":
          return encodeAnswer(method, response.id, response.value)
        case "error":
          return encodeError(response.id, response.error)
        case "refused":
          return encodeRefused(response.id, response.reason)
        case "stray":
          return undefined
      }
    }
    fc.assert(
      fc.property(responseArb, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ method, frame }, at, byte) => {
        const body = bodyOf(frame).slice()
        body[at % body.length] = byte
        const decoded = decodeResponse(body, () => method)
        if (Result.isFailure(decoded)) return
        const again = reencode(method, decoded.success)
        if (again !== undefined) expect(bodyOf(again)).toStrictEqual(body)
      }),
      { numRuns: 3000 }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// 3. Encoders refuse values of the wrong type
// ---------------------------------------------------------------------------------------------

describe("client wire: encoders throw WireError on values of the wrong type", () => {
  const put = { session: 1, seq: 1, ack: 0, key: KEY, value: VALUE }

  it.each([
    ["a negative seq", () => encodeRequest({ method: "Put", id: 1, payload: { ...put, seq: -1 } })],
    [
      "a fractional expectedVersion",
      () => encodeRequest({ method: "Delete", id: 1, payload: { ...put, expectedVersion: 1.5 } })
    ],
    [
      "a session above 2^53 - 1",
      () => encodeRequest({ method: "CloseSession", id: 1, payload: { session: 2 ** 53 } })
    ],
    ["a negative request id", () => encodeRequest({ method: "Status", id: -1, payload: undefined })],
    ["a NaN request id", () => encodeRequest({ method: "Ping", id: Number.NaN, payload: undefined })],
    [
      "a key that is a string",
      () =>
        encodeRequest({
          method: "Get",
          id: 1,
          payload: { key: "k" as unknown as Uint8Array, consistency: "stale" }
        })
    ],
    [
      "a value that is an array",
      () => encodeRequest({ method: "Put", id: 1, payload: { ...put, value: [1] as unknown as Uint8Array } })
    ],
    ["a fractional Put version", () => encodeAnswer("Put", 1, { version: 1.5 })],
    ["a negative Get appliedIndex", () => encodeAnswer("Get", 1, { ...GET_ABSENT, appliedIndex: -1 })],
    [
      "a Get entry value that is a string",
      () => encodeAnswer("Get", 1, { ...GET_FOUND, entry: { value: "v", version: 1 } })
    ],
    ["a Delete answer that is not a boolean", () => encodeAnswer("Delete", 1, { deleted: 1 })],
    ["an unknown role", () => encodeAnswer("Status", 1, { ...status(1), role: "boss" })],
    ["a fractional leader", () => encodeAnswer("Status", 1, status(1, 0.5))],
    ["an answer to a negative id", () => encodeAnswer("Ping", -3, undefined)],
    [
      "an error size below 0",
      () => encodeError(1, { ...new KeyTooLarge({ size: 1, limit: 1 }), size: -1 } as unknown as KeyTooLarge)
    ]
  ])("%s", (_, encode) => {
    expect(encode).toThrow(WireError)
  })

  it("a throw halfway through a frame leaves the shared writer clean for the next one", () => {
    const request = REQUESTS[2]!
    const before = encodeRequest(request)
    expect(() =>
      encodeRequest({ method: "Put", id: 1, payload: { ...put, value: "x" as unknown as Uint8Array } })
    ).toThrow(WireError)
    expect(encodeRequest(request)).toStrictEqual(before)
    bodyOf(encodeRequest(request))
  })
})

// ---------------------------------------------------------------------------------------------
// 4. The server over real TCP, with raw sockets
// ---------------------------------------------------------------------------------------------

/** Calls that answer at once; a test overrides the ones it scripts. */
const scriptedApi = (overrides: Partial<KvApi> = {}): KvApi => ({
  Get: () => Effect.succeed(GET_ABSENT),
  Put: () => Effect.succeed({ version: 1 }),
  Delete: () => Effect.succeed({ deleted: true }),
  OpenSession: () => Effect.succeed({ session: 1 }),
  CloseSession: () => Effect.succeed({ closed: true }),
  Status: () => Effect.succeed(status(1)),
  ...overrides
})

/** The real client port on a free port of 127.0.0.1, serving `api`, until the scope closes. */
const startServer = (api: KvApi) =>
  Effect.gen(function* () {
    let connections = 0
    const bound = yield* Effect.orDie(
      serveClients({ host: "127.0.0.1", port: 0 }, () => {
        connections++
        return api
      })
    )
    return { port: bound.port, endpoint: `127.0.0.1:${bound.port}`, connections: () => connections }
  })

/** A raw client socket: sends any bytes, keeps every answer body it gets (copied). */
interface RawClient {
  /** Sends any bytes; `answersAs` names the method whose answer type an id gets, if any. */
  readonly send: (frame: Uint8Array, answersAs?: readonly [number, WireMethod]) => void
  /** Sends a well-formed request and remembers its method, to decode its answer. */
  readonly request: (request: Request) => void
  readonly bodies: Array<Uint8Array>
  /** What could not be split into frames (the server sent garbage): should stay empty. */
  readonly unframeable: Array<string>
  /** The answers received so far, decoded with the methods of the requests sent. */
  readonly answers: () => Array<Response>
  readonly isClosed: () => boolean
  readonly destroy: () => void
}

const rawClient = (port: number): Effect.Effect<RawClient, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<RawClient, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      const framer = makeFramer(MAX_CLIENT_FRAME_BYTES)
      const bodies: Array<Uint8Array> = []
      const unframeable: Array<string> = []
      const methods = new Map<number, WireMethod>()
      let closed = false
      socket.on("data", (chunk: Uint8Array) => {
        const frames = framer.push(chunk)
        if (Result.isFailure(frames)) return void unframeable.push(frames.failure._tag)
        for (const body of frames.success) bodies.push(body.slice())
      })
      socket.on("close", () => {
        closed = true
      })
      socket.on("error", () => {}) // a reset by the server is an expected outcome here
      socket.once("connect", () =>
        resume(
          Effect.succeed({
            send: (frame, answersAs) => {
              if (answersAs !== undefined) methods.set(answersAs[0], answersAs[1])
              socket.write(frame)
            },
            request: (request) => {
              methods.set(request.id, request.method)
              socket.write(encodeRequest(request))
            },
            bodies,
            unframeable,
            answers: () => bodies.map((body) => ok(decodeResponse(body, (id) => methods.get(id)))),
            isClosed: () => closed,
            destroy: () => void socket.destroy()
          })
        )
      )
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (client) => Effect.sync(client.destroy)
  )

/** Waits (bounded) until `client` holds `n` answers, and returns them. */
const answersOf = (client: RawClient, n: number) =>
  Effect.gen(function* () {
    yield* eventually(
      Effect.sync(() => client.bodies.length >= n),
      `${n} answers (have ${client.bodies.length})`,
      5000
    )
    expect(client.unframeable).toEqual([])
    return client.answers()
  })

const closedSoon = (client: RawClient) =>
  eventually(Effect.sync(client.isClosed), "the server to close", 5000)

describe("client port server over TCP", () => {
  it.live("a frame with a readable id but a bad payload is answered 'refused'; the connection goes on", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const server = yield* startServer(scriptedApi())
        const client = yield* rawClient(server.port)
        // Get 5 whose key announces 100 bytes but carries 2.
        client.send(framed([1, 5, 100, 1, 2]), [5, "Get"])
        // Method code 9 does not exist, but id 6 is readable.
        client.send(framed([9, 6]), [6, "Get"])
        client.request({ method: "Status", id: 7, payload: undefined })
        const byId = new Map((yield* answersOf(client, 3)).map((r) => [r.id, r] as const))
        const bad = byId.get(5)
        assert(bad?.outcome === "refused")
        expect(bad.reason).toBe("malformed request: key: 100 bytes announced, 2 left")
        const unknown = byId.get(6)
        assert(unknown?.outcome === "refused")
        expect(unknown.reason).toBe("malformed request: unknown method code 9")
        expect(byId.get(7)).toStrictEqual({ outcome: "answer", id: 7, value: status(1) })
        expect(client.isClosed()).toBe(false)
      })
    )
  )

  it.live("a body whose id cannot be read closes that connection", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = yield* startServer(scriptedApi())
        const client = yield* rawClient(server.port)
        client.send(framed([6])) // Status, and no id
        yield* closedSoon(client)
        expect(client.bodies).toHaveLength(0)
        expect(logs.some((l) => l.startsWith("Warn") && l.includes("unreadable request"))).toBe(true)
      })
    )
  )

  it.live("an oversized length prefix or an empty frame closes that connection; others are served", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = yield* startServer(scriptedApi())
        const bystander = yield* rawClient(server.port)
        const oversized = yield* rawClient(server.port)
        const empty = yield* rawClient(server.port)
        // Only the prefix: the server must not wait for 4 MiB + 1 bytes of body to refuse it.
        const prefix = new Uint8Array(4)
        new DataView(prefix.buffer).setUint32(0, MAX_CLIENT_FRAME_BYTES + 1)
        oversized.send(prefix)
        empty.send(framed([]))
        yield* closedSoon(oversized)
        yield* closedSoon(empty)
        expect(logs.some((l) => l.includes(`frame of ${MAX_CLIENT_FRAME_BYTES + 1} bytes`))).toBe(true)
        expect(logs.some((l) => l.includes("empty frame"))).toBe(true)
        // A connection open before, and one opened after, are both still answered.
        bystander.request({ method: "Status", id: 1, payload: undefined })
        const later = yield* rawClient(server.port)
        later.request({ method: "OpenSession", id: 2, payload: undefined })
        expect(yield* answersOf(bystander, 1)).toStrictEqual([{ outcome: "answer", id: 1, value: status(1) }])
        expect(yield* answersOf(later, 1)).toStrictEqual([
          { outcome: "answer", id: 2, value: { session: 1 } }
        ])
      })
    )
  )

  it.live("a frame of exactly the limit is served; one byte more closes the connection", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const sizes: Array<number> = []
        const server = yield* startServer(
          scriptedApi({
            Put: (req) => Effect.sync(() => sizes.push(req.value.length)).pipe(Effect.as({ version: 3 }))
          })
        )
        const putOf = (id: number, valueBytes: number): Request => ({
          method: "Put",
          id,
          payload: { session: 1, seq: id, ack: 0, key: KEY, value: new Uint8Array(valueBytes) }
        })
        // The value's length takes 4 varint bytes near 4 MiB, 1 when empty.
        const overhead = bodyOf(encodeRequest(putOf(1, 0))).length + 3
        const fits = MAX_CLIENT_FRAME_BYTES - overhead
        expect(bodyOf(encodeRequest(putOf(1, fits))).length).toBe(MAX_CLIENT_FRAME_BYTES)
        const client = yield* rawClient(server.port)
        client.request(putOf(1, fits))
        expect(yield* answersOf(client, 1)).toStrictEqual([
          { outcome: "answer", id: 1, value: { version: 3 } }
        ])
        expect(sizes).toEqual([fits])
        client.request(putOf(2, fits + 1))
        yield* closedSoon(client)
        expect(sizes).toEqual([fits])
      })
    )
  )

  it.live("a request whose handler never finishes does not hold up later ones (answers out of order)", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const server = yield* startServer(
        scriptedApi({
          Get: () => Effect.never,
          Put: () => Deferred.await(gate).pipe(Effect.as({ version: 7 }))
        })
      )
      const client = yield* rawClient(server.port)
      const hung = 2 ** 40 + 1
      client.request({ method: "Get", id: hung, payload: { key: KEY, consistency: "linearizable" } })
      client.request({
        method: "Put",
        id: 300,
        payload: { session: 1, seq: 1, ack: 0, key: KEY, value: VALUE }
      })
      client.request({ method: "Status", id: 7, payload: undefined })
      expect(yield* answersOf(client, 1)).toStrictEqual([{ outcome: "answer", id: 7, value: status(1) }])
      yield* Deferred.succeed(gate, undefined)
      const two = yield* answersOf(client, 2)
      expect(two[1]).toStrictEqual({ outcome: "answer", id: 300, value: { version: 7 } })
      // Still nothing for the hung Get, while a later request is answered.
      client.request({ method: "Ping", id: 8, payload: undefined })
      const three = yield* answersOf(client, 3)
      expect(three.map((a) => a.id)).toEqual([7, 300, 8])
    })
  )

  it.live("closing a client connection interrupts its running handlers, and only its own", () =>
    Effect.gen(function* () {
      let started = 0
      let interrupted = 0
      const server = yield* startServer(
        scriptedApi({
          Get: () =>
            Effect.suspend(() => {
              started++
              return Effect.never
            }).pipe(
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  interrupted++
                })
              )
            )
        })
      )
      const get: Request = { method: "Get", id: 1, payload: { key: KEY, consistency: "stale" } }
      const first = yield* rawClient(server.port)
      const second = yield* rawClient(server.port)
      first.request(get)
      second.request(get)
      yield* eventually(
        Effect.sync(() => started === 2),
        "both handlers to start",
        5000
      )
      expect(interrupted).toBe(0)
      first.destroy()
      yield* eventually(
        Effect.sync(() => interrupted === 1),
        "the closed connection's handler to be interrupted",
        5000
      )
      // The other connection's handler still runs, and its connection still answers.
      second.request({ method: "Status", id: 2, payload: undefined })
      expect(yield* answersOf(second, 1)).toStrictEqual([{ outcome: "answer", id: 2, value: status(1) }])
      expect(interrupted).toBe(1)
      second.destroy()
      yield* eventually(
        Effect.sync(() => interrupted === 2),
        "the second handler to be interrupted",
        5000
      )
    })
  )
})

// ---------------------------------------------------------------------------------------------
// 5. The client's connection pool
// ---------------------------------------------------------------------------------------------

const KEEP_ALIVE_MS = 100
const OPTIONS = { connectTimeoutMs: 1000, keepAliveMs: KEEP_ALIVE_MS }

/** A plain node:net server that a test scripts per connection. */
interface PlainServer {
  readonly port: number
  readonly sockets: Array<Net.Socket>
  /** Stops listening and drops every connection. */
  readonly close: Effect.Effect<void>
}

const plainServer = (
  onConnection: (socket: Net.Socket, server: Net.Server) => void,
  port = 0
): Effect.Effect<PlainServer, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<PlainServer, Error>((resume) => {
      const sockets: Array<Net.Socket> = []
      const server = Net.createServer((socket) => {
        sockets.push(socket)
        socket.on("error", () => {})
        onConnection(socket, server)
      })
      const close = Effect.callback<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done(Effect.void))
      })
      server.once("error", (e) => resume(Effect.fail(e)))
      server.listen(port, "127.0.0.1", () => {
        const address = server.address()
        resume(
          Effect.succeed({
            port: typeof address === "object" && address !== null ? address.port : 0,
            sockets,
            close
          })
        )
      })
    }),
    (server) => server.close
  )

/** Calls `onRequest` with each request the client sends on `socket`; anything unreadable from the
 * client is recorded in `unreadable` (a client bug: every test checks it stays empty). */
const onRequests = (socket: Net.Socket, unreadable: Array<string>, onRequest: (request: Request) => void) => {
  const framer = makeFramer(MAX_CLIENT_FRAME_BYTES)
  socket.on("data", (chunk: Uint8Array) => {
    const frames = framer.push(chunk)
    if (Result.isFailure(frames)) {
      unreadable.push(frames.failure._tag)
      return void socket.destroy()
    }
    for (const body of frames.success) {
      const decoded = decodeRequest(body)
      if (Result.isSuccess(decoded)) onRequest(decoded.success)
      else unreadable.push(decoded.failure.detail)
    }
  })
}

/** Retries `attempt` every 20 ms until it succeeds (bounded); returns its value and the failures. */
const untilSuccess = <A, E>(attempt: Effect.Effect<A, E>, what: string, timeoutMillis = 5000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    const failures: Array<E> = []
    while (true) {
      const exit = yield* Effect.exit(attempt)
      if (Exit.isSuccess(exit)) return { value: exit.value, failures }
      failures.push(failureOf(exit))
      if (Date.now() > deadline) return assert.fail(`timed out waiting for ${what}`)
      yield* Effect.sleep(20)
    }
  })

/** A bound on calls expected to end on their own, so a regression fails instead of hanging. */
const bounded = <A, E, R>(call: Effect.Effect<A, E, R>) => Effect.exit(Effect.timeout(call, 5000))

describe("client connection pool", () => {
  it.live("an endpoint that is not host:port fails with NodeUnreachable", () =>
    Effect.gen(function* () {
      const pool = yield* makePool(OPTIONS)
      const error = yield* Effect.flip(pool.get("no-port-here"))
      assert.instanceOf(error, NodeUnreachable)
      expect(error.endpoint).toBe("no-port-here")
    })
  )

  it.live("calls to a port nobody listens on fail with ConnectionLost 'open'", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const endpoint = `127.0.0.1:${port}`
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(endpoint)
      const first = connectionLost(yield* bounded(conn.Status()))
      expect(first.phase).toBe("open")
      expect(first.endpoint).toBe(endpoint)
      expect(first.detail).toMatch(/ECONNREFUSED/)
      // While down, calls fail at once, as never sent.
      const again = connectionLost(yield* bounded(conn.Get({ key: KEY, consistency: "stale" })))
      expect(again.phase).toBe("open")
      expect(pool.ready(endpoint)).toBe(conn)
    })
  )

  it.live("a request over the node's frame limit fails as too large, unsent; the connection goes on", () =>
    Effect.gen(function* () {
      let puts = 0
      const server = yield* startServer(
        scriptedApi({
          Put: () => {
            puts++
            return Effect.succeed({ version: puts })
          }
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(server.endpoint)
      const write = { session: 1, seq: 1, ack: 0, key: KEY }
      const huge = new Uint8Array(MAX_CLIENT_FRAME_BYTES)
      const value = yield* Effect.flip(conn.Put({ ...write, value: huge }))
      expect(value).toBeInstanceOf(ValueTooLarge)
      const { size, limit } = value as ValueTooLarge
      expect(size).toBe(huge.length)
      // The limit is the largest value that fits with this key: that one is sent and answered.
      expect(limit).toBeLessThan(MAX_CLIENT_FRAME_BYTES)
      expect(yield* conn.Put({ ...write, value: huge.subarray(0, limit) })).toStrictEqual({ version: 1 })
      const key = yield* Effect.flip(conn.Get({ key: huge, consistency: "stale" }))
      expect(key).toBeInstanceOf(KeyTooLarge)
      expect(puts).toBe(1)
      expect(server.connections()).toBe(1)
    })
  )

  it.live("every call reaches a real server and gets its own answer, many in flight at once", () =>
    Effect.gen(function* () {
      // Each Get answers after a delay that falls with its key, so answers come back reversed.
      const server = yield* startServer(
        scriptedApi({
          Get: (req) =>
            Effect.sleep(2 * (40 - req.key[0]!)).pipe(
              Effect.as({ entry: { value: req.key, version: req.key[0]! }, appliedIndex: 1, commitIndex: 1 })
            ),
          Put: (req) => Effect.succeed({ version: req.value.length + (req.expectedVersion ?? 0) }),
          Delete: (req) => Effect.succeed({ deleted: req.expectedVersion === undefined }),
          OpenSession: () => Effect.succeed({ session: 2 ** 40 }),
          CloseSession: (req) => Effect.succeed({ closed: req.session === 5 }),
          Status: () => Effect.succeed(status(3, null))
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(server.endpoint)
      const keys = Array.from({ length: 40 }, (_, i) => bytes(i, 0xab))
      const gets = yield* Effect.all(
        keys.map((key) => conn.Get({ key, consistency: "linearizable" })),
        { concurrency: "unbounded" }
      ).pipe(Effect.timeout(5000))
      gets.forEach((got, i) => {
        // Contents only: the class of the bytes is the subject of a codec test above.
        const entry = got.entry === null ? null : { ...got.entry, value: Uint8Array.from(got.entry.value) }
        expect({ ...got, entry }).toStrictEqual({
          entry: { value: keys[i], version: i },
          appliedIndex: 1,
          commitIndex: 1
        })
      })
      const write = { session: 1, seq: 1, ack: 0, key: KEY }
      expect(yield* conn.Put({ ...write, value: VALUE, expectedVersion: 4 })).toStrictEqual({ version: 304 })
      expect(yield* conn.Delete(write)).toStrictEqual({ deleted: true })
      expect(yield* conn.Delete({ ...write, expectedVersion: 0 })).toStrictEqual({ deleted: false })
      expect(yield* conn.OpenSession()).toStrictEqual({ session: 2 ** 40 })
      expect(yield* conn.CloseSession({ session: 5 })).toStrictEqual({ closed: true })
      expect(yield* conn.Status()).toStrictEqual(status(3, null))
      expect(server.connections()).toBe(1)
    })
  )

  it.live("a node's typed errors fail the call with the protocol's error classes", () =>
    Effect.gen(function* () {
      const server = yield* startServer(
        scriptedApi({
          Get: () => Effect.fail(new NotLeader({ leaderHint: "127.0.0.1:1" })),
          Put: () => Effect.fail(new VersionMismatch({ currentVersion: 8 })),
          Delete: () => Effect.fail(new StaleSequence({ session: 4, seq: 2 })),
          OpenSession: () => Effect.fail(new Busy())
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(server.endpoint)
      const write = { session: 4, seq: 2, ack: 0, key: KEY }
      expectSameError(
        failureOf(yield* bounded(conn.Get({ key: KEY, consistency: "linearizable" }))) as WireErrorValue,
        new NotLeader({ leaderHint: "127.0.0.1:1" })
      )
      expectSameError(
        failureOf(yield* bounded(conn.Put({ ...write, value: VALUE }))) as WireErrorValue,
        new VersionMismatch({ currentVersion: 8 })
      )
      expectSameError(
        failureOf(yield* bounded(conn.Delete(write))) as WireErrorValue,
        new StaleSequence({ session: 4, seq: 2 })
      )
      expectSameError(failureOf(yield* bounded(conn.OpenSession())) as WireErrorValue, new Busy())
      expect(server.connections()).toBe(1)
    })
  )

  it.live(
    "a node that drops the connection mid-call fails it 'lost'; the connection redials when the node is back",
    () =>
      withLogs(() =>
        Effect.gen(function* () {
          const unreadable: Array<string> = []
          const received: Array<WireMethod> = []
          // Stops listening, then drops the connection, on the first request: nothing to redial to.
          const dropping = yield* plainServer((socket, listener) =>
            onRequests(socket, unreadable, (request) => {
              received.push(request.method)
              listener.close()
              socket.destroy()
            })
          )
          const endpoint = `127.0.0.1:${dropping.port}`
          const pool = yield* makePool(OPTIONS)
          const conn = yield* pool.get(endpoint)
          const lost = connectionLost(yield* bounded(conn.Status()))
          expect(lost.phase).toBe("lost")
          expect(lost.endpoint).toBe(endpoint)
          expect(received).toEqual(["Status"])
          // While nothing listens, calls are not sent.
          expect(connectionLost(yield* bounded(conn.Status())).phase).toBe("open")
          yield* dropping.close
          // The node is back on the same port: the same connection redials (backoff <= 1 s).
          const back = yield* Effect.orDie(
            serveClients({ host: "127.0.0.1", port: dropping.port }, () => scriptedApi())
          )
          expect(back.port).toBe(dropping.port)
          const { value, failures } = yield* untilSuccess(conn.Status(), "the connection to come back")
          expect(value).toStrictEqual(status(1))
          for (const failure of failures) {
            assert.instanceOf(failure, ConnectionLost)
            expect(failure.phase).toBe("open")
          }
          expect(yield* pool.get(endpoint)).toBe(conn)
          expect(unreadable).toEqual([])
        })
      )
  )

  it.live(
    "a node that accepts and never answers fails the call 'lost' after a keep-alive ping goes unanswered",
    () =>
      Effect.gen(function* () {
        const unreadable: Array<string> = []
        const received: Array<WireMethod> = []
        const silent = yield* plainServer((socket) =>
          onRequests(socket, unreadable, (r) => received.push(r.method))
        )
        const pool = yield* makePool(OPTIONS)
        const conn = yield* pool.get(`127.0.0.1:${silent.port}`)
        const started = Date.now()
        const lost = connectionLost(yield* bounded(conn.Status()))
        const elapsed = Date.now() - started
        expect(lost.phase).toBe("lost")
        expect(lost.detail).toBe(`no answer within ${KEEP_ALIVE_MS} ms`)
        // A silent interval, a ping, then another silent interval: a few keepAliveMs, not instantly.
        expect(elapsed).toBeGreaterThanOrEqual(KEEP_ALIVE_MS)
        expect(elapsed).toBeLessThan(20 * KEEP_ALIVE_MS)
        yield* eventually(
          Effect.sync(() => received.includes("Ping")),
          "the keep-alive ping to reach the node",
          2000
        )
        expect(received[0]).toBe("Status")
        expect(unreadable).toEqual([])
      })
  )

  it.live("an idle connection to a node that answers its pings stays open", () =>
    Effect.gen(function* () {
      const unreadable: Array<string> = []
      let pings = 0
      const server = yield* plainServer((socket) =>
        onRequests(socket, unreadable, (request) => {
          if (request.method === "Ping") pings++
          socket.write(
            request.method === "Ping"
              ? encodeAnswer("Ping", request.id, undefined)
              : encodeAnswer("Status", request.id, status(request.id))
          )
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(`127.0.0.1:${server.port}`)
      succeeded(yield* bounded(conn.Status()))
      // Idle but for pings: every answered ping must count as life, or the third would not come.
      yield* eventually(
        Effect.sync(() => pings >= 3),
        "three keep-alive pings",
        5000
      )
      const later = succeeded(yield* bounded(conn.Status()))
      expect(later.id).toBeGreaterThan(3) // a fresh id: the pings took ids of their own
      expect(server.sockets).toHaveLength(1)
      expect(unreadable).toEqual([])
    })
  )

  const garbage: ReadonlyArray<{
    readonly name: string
    readonly answer: (request: Request) => Uint8Array
    readonly detail: string
  }> = [
    {
      name: "an unknown outcome",
      answer: (request) => {
        const frame = encodeRefused(request.id, "x")
        frame[4] = 9 // the outcome byte
        return frame
      },
      detail: "unreadable answer from the node: unknown outcome 9"
    },
    {
      name: "an error its method cannot fail with",
      answer: (request) => encodeError(request.id, new VersionMismatch({ currentVersion: 1 })),
      detail: "unreadable answer from the node: VersionMismatch is not an answer to Status"
    },
    {
      name: "a truncated answer",
      answer: (request) => framed([...bodyOf(encodeAnswer("Status", request.id, status(1)))].slice(0, -1)),
      detail: "unreadable answer from the node: truncated inside appliedIndex"
    },
    {
      name: "a length prefix over the client's limit",
      answer: () => bytes(0xff, 0xff, 0xff, 0xff),
      detail: `the node sent an answer of ${0xffff_ffff} bytes, limit ${16 * 1024 * 1024}`
    },
    { name: "an empty frame", answer: () => framed([]), detail: "the node sent an empty frame" }
  ]

  for (const { name, answer, detail } of garbage) {
    it.live(`a node answering with ${name} fails the calls in flight 'lost'`, () =>
      Effect.gen(function* () {
        const unreadable: Array<string> = []
        const statuses: Array<number> = []
        // Answers the second Status with garbage, so two calls are in flight when it comes.
        const server = yield* plainServer((socket) =>
          onRequests(socket, unreadable, (request) => {
            if (request.method !== "Status") return
            statuses.push(request.id)
            if (statuses.length === 2) socket.write(answer(request))
          })
        )
        const pool = yield* makePool(OPTIONS)
        const conn = yield* pool.get(`127.0.0.1:${server.port}`)
        const [first, second] = yield* Effect.all([bounded(conn.Status()), bounded(conn.Status())], {
          concurrency: "unbounded"
        })
        for (const exit of [first, second]) {
          const lost = connectionLost(exit)
          expect(lost.phase).toBe("lost")
          expect(lost.detail).toBe(detail)
        }
        expect(unreadable).toEqual([])
      })
    )
  }

  it.live("an answer to a call whose caller gave up is skipped; the connection keeps working", () =>
    Effect.gen(function* () {
      const unreadable: Array<string> = []
      const statusIds: Array<number> = []
      let held: Request | undefined
      const server = yield* plainServer((socket) =>
        onRequests(socket, unreadable, (request) => {
          if (request.method === "Ping") return void socket.write(encodeAnswer("Ping", request.id, undefined))
          statusIds.push(request.id)
          if (held === undefined) {
            held = request // no answer until the next request
            return
          }
          // The late answer to the abandoned call first, then this call's own (each names its id).
          socket.write(encodeAnswer("Status", held.id, status(held.id)))
          socket.write(encodeAnswer("Status", request.id, status(request.id)))
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(`127.0.0.1:${server.port}`)
      const abandoned = yield* Effect.exit(Effect.timeout(conn.Status(), 150))
      expect(Cause.isTimeoutError(failureOf(abandoned))).toBe(true)
      const second = succeeded(yield* bounded(conn.Status()))
      expect(statusIds).toHaveLength(2)
      expect(second).toStrictEqual(status(statusIds[1]!))
      expect(second.id).not.toBe(statusIds[0])
      const third = succeeded(yield* bounded(conn.Status()))
      expect(third).toStrictEqual(status(statusIds[2]!))
      expect(server.sockets).toHaveLength(1)
      expect(unreadable).toEqual([])
    })
  )

  it.live("a 'refused' answer is a defect (RequestRefused) of that call only", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const server = yield* startServer(
        scriptedApi({
          // Dies only once the Status below is in flight too.
          Get: () => Deferred.await(gate).pipe(Effect.andThen(Effect.die(new Error("handler exploded")))),
          Status: () => Deferred.succeed(gate, undefined).pipe(Effect.as(status(2)))
        })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(server.endpoint)
      const [get, statusExit] = yield* Effect.all(
        [bounded(conn.Get({ key: KEY, consistency: "stale" })), bounded(conn.Status())],
        { concurrency: "unbounded" }
      )
      assert(Exit.isFailure(get))
      expect(Result.isFailure(Cause.findError(get.cause))).toBe(true) // not a typed failure
      const defect = Cause.findDefect(get.cause)
      assert(Result.isSuccess(defect))
      assert.instanceOf(defect.success, RequestRefused)
      expect(defect.success.endpoint).toBe(server.endpoint)
      expect(defect.success.reason).toMatch(/^the node failed to answer: .*handler exploded/s)
      expect(succeeded(statusExit)).toStrictEqual(status(2))
      // The connection is still the same one, and still works.
      expect(
        succeeded(yield* bounded(conn.Put({ session: 1, seq: 1, ack: 0, key: KEY, value: VALUE })))
      ).toStrictEqual({ version: 1 })
      expect(server.connections()).toBe(1)
    })
  )

  it.live("a handler answer the wire cannot carry is refused, not a broken connection", () =>
    Effect.gen(function* () {
      const server = yield* startServer(
        scriptedApi({ Status: () => Effect.succeed({ ...status(1), role: "boss" } as unknown as NodeStatus) })
      )
      const pool = yield* makePool(OPTIONS)
      const conn = yield* pool.get(server.endpoint)
      const exit = yield* bounded(conn.Status())
      assert(Exit.isFailure(exit))
      const defect = Cause.findDefect(exit.cause)
      assert(Result.isSuccess(defect))
      assert.instanceOf(defect.success, RequestRefused)
      expect(defect.success.reason).toMatch(/^the node could not encode its answer: .*role boss is unknown/)
      expect(succeeded(yield* bounded(conn.OpenSession()))).toStrictEqual({ session: 1 })
      expect(server.connections()).toBe(1)
    })
  )

  it.live("closing the pool's scope closes its connections; later calls fail at once, never sent", () =>
    Effect.gen(function* () {
      const unreadable: Array<string> = []
      const server = yield* plainServer((socket) => onRequests(socket, unreadable, () => {}))
      const endpoint = `127.0.0.1:${server.port}`
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          const pool = yield* makePool({ connectTimeoutMs: 1000, keepAliveMs: 60_000 })
          const conn = yield* pool.get(endpoint)
          yield* eventually(
            Effect.sync(() => server.sockets.length === 1),
            "the dial",
            5000
          )
          return conn
        })
      )
      // The scope closed: the connection is closed and does not redial.
      const lost = connectionLost(yield* bounded(outcome.Status()))
      expect(lost.phase).toBe("open")
      expect(lost.detail).toBe("the client closed the connection")
      yield* eventually(
        Effect.sync(() => server.sockets.every((s) => s.destroyed || s.readableEnded)),
        "the server to see the close",
        5000
      )
      expect(server.sockets).toHaveLength(1)
    })
  )
})
