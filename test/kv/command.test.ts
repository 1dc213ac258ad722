import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Command, decodeCommand, encodeCommand } from "../../src/kv/command.ts"
import { bytes } from "./fixtures.ts"

const uint = fc.oneof(fc.nat(300), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat())
const header = {
  at: uint,
  session: uint,
  seq: uint,
  ack: uint,
  expectedVersion: fc.option(uint, { nil: undefined }),
  key: fc.uint8Array({ maxLength: 40 })
}
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ _tag: fc.constant("OpenSession" as const), at: uint }),
  fc.record({ _tag: fc.constant("CloseSession" as const), at: uint, session: uint }),
  fc.record({ _tag: fc.constant("Put" as const), ...header, value: fc.uint8Array({ maxLength: 80 }) }),
  fc.record({ _tag: fc.constant("Delete" as const), ...header })
)

/** Plain, comparable form (typed arrays as number arrays; an absent expectedVersion dropped). */
const plain = (c: Command | ReturnType<typeof decodeCommand>): unknown =>
  JSON.parse(
    JSON.stringify(c, (_k, v) => (v instanceof Uint8Array ? [...v] : v === undefined ? undefined : v))
  )

describe("command codec", () => {
  it("property: decode(encode(c)) == c for every command", () => {
    fc.assert(
      fc.property(commandArb, (c) => {
        expect(plain(decodeCommand(encodeCommand(c)))).toEqual(plain(c))
      }),
      { numRuns: 1000 }
    )
  })

  it("is compact: a put with a 16-byte key and 128-byte value and realistic numbers is 160 bytes", () => {
    const data = encodeCommand({
      _tag: "Put",
      at: 1_764_000_000_000,
      session: 1234,
      seq: 99_999,
      ack: 99_998,
      key: new Uint8Array(16),
      value: new Uint8Array(128)
    })
    expect(data.length).toBe(160)
  })

  it("empty key and value are valid", () => {
    const c: Command = {
      _tag: "Put",
      at: 0,
      session: 1,
      seq: 1,
      ack: 0,
      key: new Uint8Array(0),
      value: new Uint8Array(0)
    }
    expect(plain(decodeCommand(encodeCommand(c)))).toEqual(plain(c))
  })

  it("rejects malformed payloads with a reason", () => {
    const put = encodeCommand({
      _tag: "Put",
      at: 5,
      session: 1,
      seq: 1,
      ack: 0,
      key: bytes("key"),
      value: bytes("v")
    })
    const open = encodeCommand({ _tag: "OpenSession", at: 5 })
    const close = encodeCommand({ _tag: "CloseSession", at: 5, session: 1 })
    const cases: Array<[string, Uint8Array]> = [
      ["empty", new Uint8Array(0)],
      ["format 2", new Uint8Array([0x21, 0])],
      ["kind 0", new Uint8Array([0x10, 0])],
      ["kind 7", new Uint8Array([0x17, 0])],
      ["flag on a session command", new Uint8Array([0x19, 0])],
      ["open with trailing bytes", new Uint8Array([...open, 0])],
      ["close with trailing bytes", new Uint8Array([...close, 0])],
      ["close truncated", close.subarray(0, close.length - 1)],
      ["truncated varint", new Uint8Array([0x13, 0x80])],
      ["varint over 2^53", new Uint8Array([0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])],
      [
        "varint longer than 8 bytes",
        new Uint8Array([0x11, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0])
      ],
      ["put key length past the end", put.subarray(0, 8)],
      ["put missing expectedVersion", new Uint8Array([0x1b, 5, 1, 1])]
    ]
    for (const [name, data] of cases) {
      const r = decodeCommand(data)
      expect(r._tag, name).toBe("InvalidCommand")
      expect(r._tag === "InvalidCommand" && r.reason.length > 0, name).toBe(true)
    }
  })

  it("property: arbitrary bytes decode to a command or InvalidCommand, never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const r = decodeCommand(data)
        expect(["OpenSession", "CloseSession", "Put", "Delete", "InvalidCommand"]).toContain(r._tag)
        if (r._tag !== "InvalidCommand") {
          for (const n of Object.values(r))
            if (typeof n === "number") expect(Number.isSafeInteger(n)).toBe(true)
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("decoded key and value are views into the payload (the state machine decides what to copy)", () => {
    const data = encodeCommand({
      _tag: "Put",
      at: 1,
      session: 1,
      seq: 1,
      ack: 0,
      key: bytes("k"),
      value: bytes("v")
    })
    const r = decodeCommand(data)
    expect(r._tag === "Put" && r.value.buffer === data.buffer).toBe(true)
  })

  it("encoding a number that is not a non-negative safe integer is a defect", () => {
    expect(() => encodeCommand({ _tag: "OpenSession", at: -1 })).toThrow(RangeError)
    expect(() => encodeCommand({ _tag: "CloseSession", at: 0, session: 1.5 })).toThrow(RangeError)
    expect(() =>
      encodeCommand({ _tag: "Delete", at: 0, session: 1, seq: 2 ** 53, ack: 0, key: new Uint8Array(0) })
    ).toThrow(RangeError)
  })
})
