/**
 * Test helpers for the KV state machine: entry builders, a driver that tracks the next index, and
 * an independent reader of the snapshot format used to compare states canonically.
 */
import { createHash } from "node:crypto"
import fc from "fast-check"
import type { Entry } from "../../src/core/types.ts"
import { type Command, encodeCommand } from "../../src/kv/command.ts"
import type { KvConfig } from "../../src/kv/limits.ts"
import type { ApplyResult } from "../../src/kv/results.ts"
import { KvStateMachine } from "../../src/kv/state-machine.ts"

const te = new TextEncoder()
export const bytes = (s: string): Uint8Array => te.encode(s)
export const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b)

export const entry = (command: Command): Entry => ({ term: 1, kind: "command", data: encodeCommand(command) })
export const rawEntry = (data: Uint8Array): Entry => ({ term: 1, kind: "command", data })
export const noop: Entry = { term: 1, kind: "noop", data: new Uint8Array(0) }

/** A state machine plus the next index to apply. */
export class Driver {
  readonly sm: KvStateMachine
  constructor(config: Partial<KvConfig> = {}, sm?: KvStateMachine) {
    this.sm = sm ?? new KvStateMachine(config)
  }
  apply(e: Entry): ApplyResult {
    return this.sm.apply(this.sm.appliedIndex + 1, e)
  }
  run(command: Command): ApplyResult {
    return this.apply(entry(command))
  }
  /** Opens a session at log time `at`; returns its id. */
  open(at = 0): number {
    const r = this.run({ _tag: "OpenSession", at })
    if (r._tag !== "SessionOpened") throw new Error(`open: ${r._tag}`)
    return r.session
  }
  put(
    session: number,
    seq: number,
    key: string,
    value: string,
    opts: { at?: number; ack?: number; expectedVersion?: number } = {}
  ): ApplyResult {
    return this.run({
      _tag: "Put",
      at: opts.at ?? 0,
      session,
      seq,
      ack: opts.ack ?? seq - 1,
      expectedVersion: opts.expectedVersion,
      key: bytes(key),
      value: bytes(value)
    })
  }
  del(
    session: number,
    seq: number,
    key: string,
    opts: { at?: number; ack?: number; expectedVersion?: number } = {}
  ): ApplyResult {
    return this.run({
      _tag: "Delete",
      at: opts.at ?? 0,
      session,
      seq,
      ack: opts.ack ?? seq - 1,
      expectedVersion: opts.expectedVersion,
      key: bytes(key)
    })
  }
  value(key: string): { value: string | undefined; version: number } | undefined {
    const r = this.sm.get(bytes(key))
    return r === undefined ? undefined : { value: text(r.value), version: r.version }
  }
}

export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let p = 0
  for (const c of chunks) {
    out.set(c, p)
    p += c.length
  }
  return out
}

/** Splits `data` into chunks at the given (sorted, in-range) cut points. */
export const rechunk = (data: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let from = 0
  for (const cut of [...cuts, data.length]) {
    out.push(data.slice(from, cut))
    from = cut
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Canonical state: an independent parse of the snapshot format (v1), with keys sorted (their
// order in a stream depends on concurrent applies) and sessions in table order.
// ---------------------------------------------------------------------------------------------

export interface Canonical {
  readonly appliedIndex: number
  readonly appliedTerm: number
  readonly logTime: number
  readonly sessions: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string>
}

const hex = (b: Uint8Array): string =>
  b.length <= 64 ? Buffer.from(b).toString("hex") : `sha256:${createHash("sha256").update(b).digest("hex")}`

export const canonical = (sm: KvStateMachine): Canonical => {
  const data = concat([...sm.snapshot()])
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let p = 5
  const readVarint = (): number => {
    let result = 0
    let mul = 1
    for (;;) {
      const b = data[p++]!
      result += (b & 0x7f) * mul
      if (b < 0x80) return result
      mul *= 128
    }
  }
  const header: Array<number> = []
  const sessions: Array<string> = []
  const keys: Array<string> = []
  while (p < data.length) {
    const length = view.getUint32(p, true)
    const start = p + 4
    const end = start + length
    p = start
    const tag = data[p++]
    if (tag === 1) for (let i = 0; i < 5; i++) header.push(readVarint())
    else if (tag === 2) sessions.push(hex(data.subarray(start + 1, end)))
    else if (tag === 3) {
      const keyLength = readVarint()
      const key = hex(data.subarray(p, p + keyLength))
      p += keyLength
      const version = readVarint()
      keys.push(`${key}=${hex(data.subarray(p, end))}@${version}`)
    }
    p = end
  }
  keys.sort()
  return { appliedIndex: header[0]!, appliedTerm: header[1]!, logTime: header[2]!, sessions, keys }
}

// ---------------------------------------------------------------------------------------------
// Random command sequences (fast-check)
// ---------------------------------------------------------------------------------------------

/** Random workloads for property tests: long enough to build up state. */
export const stepsArb = (maxLength: number, minLength = 0): fc.Arbitrary<Array<Step>> =>
  fc.array(stepArb, { minLength, maxLength, size: "max" })

/** One step of a random workload; resolved against the driver's state when applied. */
export type Step =
  | { readonly kind: "open"; readonly dt: number }
  | { readonly kind: "close"; readonly pick: number; readonly dt: number }
  | {
      readonly kind: "put" | "delete"
      readonly pick: number
      readonly seqMode: "next" | "retry" | "old" | "skip"
      readonly ackLag: number
      readonly key: number
      readonly value: number
      readonly expected: number | undefined
      readonly dt: number
    }
  | { readonly kind: "garbage"; readonly data: Uint8Array }
  | { readonly kind: "noop" }

const dt = fc.oneof(
  { weight: 40, arbitrary: fc.integer({ min: 0, max: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 500 }) },
  { weight: 1, arbitrary: fc.integer({ min: -30, max: -1 }) }
)

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("open" as const), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), pick: fc.constant(7), dt }) },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constantFrom("put" as const, "delete" as const),
      pick: fc.nat(7),
      seqMode: fc.constantFrom(
        "next" as const,
        "next" as const,
        "retry" as const,
        "old" as const,
        "skip" as const
      ),
      ackLag: fc.nat(3),
      key: fc.nat(5),
      // Mostly within smallConfig's 6-byte value limit, sometimes over it.
      value: fc.oneof(
        { weight: 9, arbitrary: fc.nat(99_999) },
        { weight: 1, arbitrary: fc.constant(12_345_678) }
      ),
      expected: fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.nat(3) }
      ),
      dt
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("garbage" as const), data: fc.uint8Array({ maxLength: 12 }) })
  },
  { weight: 1, arbitrary: fc.constant({ kind: "noop" as const }) }
)

/** Small limits so random workloads hit expiry, eviction, window and size limits. */
export const smallConfig: Partial<KvConfig> = {
  sessionTtlMs: 300,
  maxSessions: 4,
  sessionResultWindow: 3,
  maxKeyBytes: 5,
  maxValueBytes: 6
}

/**
 * Turns steps into concrete entries (deterministically), tracking which session ids were opened
 * and the seqs used, so retries and stale seqs actually occur.
 */
export const toEntries = (steps: ReadonlyArray<Step>, firstIndex = 1): Array<Entry> => {
  // Always start with a session, so most writes have one to use.
  const out: Array<Entry> = [entry({ _tag: "OpenSession", at: 1000 })]
  const sessions: Array<number> = [firstIndex]
  const seqs = new Map<number, number>()
  let at = 1000
  for (const step of steps) {
    const index = firstIndex + out.length
    if (step.kind === "noop") {
      out.push(noop)
      continue
    }
    if (step.kind === "garbage") {
      out.push(rawEntry(step.data))
      continue
    }
    at = Math.max(0, at + step.dt)
    if (step.kind === "open") {
      sessions.push(index)
      out.push(entry({ _tag: "OpenSession", at }))
      continue
    }
    // Mostly one of the latest sessions (likely alive), sometimes an old (likely expired) one.
    const session =
      sessions.length === 0
        ? 999
        : step.pick === 7
          ? sessions[0]!
          : sessions[sessions.length - 1 - (step.pick % Math.min(3, sessions.length))]!
    if (step.kind === "close") {
      out.push(entry({ _tag: "CloseSession", at, session }))
      continue
    }
    const last = seqs.get(session) ?? 0
    const seq =
      step.seqMode === "next"
        ? last + 1
        : step.seqMode === "skip"
          ? last + 2
          : step.seqMode === "retry"
            ? Math.max(1, last)
            : Math.max(1, last - 2)
    seqs.set(session, Math.max(last, seq))
    const key = bytes("k".repeat(step.key + 1))
    const ack = Math.max(0, seq - 1 - step.ackLag)
    out.push(
      step.kind === "put"
        ? entry({
            _tag: "Put",
            at,
            session,
            seq,
            ack,
            expectedVersion: step.expected,
            key,
            value: bytes(String(step.value))
          })
        : entry({ _tag: "Delete", at, session, seq, ack, expectedVersion: step.expected, key })
    )
  }
  return out
}

/** A simple workload: one session, then puts and deletes over `keys` keys that all succeed. */
export const simpleWorkload = (keys: number): fc.Arbitrary<Array<Entry>> =>
  fc
    .array(fc.record({ key: fc.nat(keys - 1), del: fc.boolean(), value: fc.nat(1000) }), {
      maxLength: 150,
      size: "max"
    })
    .map((ops) => [
      entry({ _tag: "OpenSession", at: 0 }),
      ...ops.map((op, i) =>
        op.del
          ? entry({ _tag: "Delete", at: 0, session: 1, seq: i + 1, ack: i, key: bytes(`key${op.key}`) })
          : entry({
              _tag: "Put",
              at: 0,
              session: 1,
              seq: i + 1,
              ack: i,
              key: bytes(`key${op.key}`),
              value: bytes(`value${op.value}`)
            })
      )
    ])
