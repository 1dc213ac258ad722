/**
 * Hostile inputs for fuzzing a live node's peer port: random bytes, framed noise, mutated,
 * truncated and oversized frames, valid frames followed by garbage. Shared by the transport fuzz
 * test and end-to-end tests that fuzz a running node.
 */
import fc from "fast-check"
import { Result } from "effect"
import { encodeFrame, FORMAT_VERSION, writeLengthPrefix } from "../../src/transport/codec.ts"
import type { WireFrame } from "../../src/transport/schema.ts"
import * as Arb from "./arbitraries.ts"

const frameBytes = (frame: WireFrame): Uint8Array => {
  const r = encodeFrame(frame)
  if (Result.isFailure(r)) throw new Error(r.failure.detail)
  return r.success
}

/** What one hostile connection sends. */
export type Attack =
  | { readonly kind: "garbage"; readonly bytes: Uint8Array }
  | { readonly kind: "framed-garbage"; readonly versioned: boolean; readonly bytes: Uint8Array }
  | { readonly kind: "mutated"; readonly frame: WireFrame; readonly flips: ReadonlyArray<[number, number]> }
  | { readonly kind: "huge-prefix"; readonly frame: WireFrame; readonly length: number }
  | { readonly kind: "truncated"; readonly frame: WireFrame; readonly keep: number }
  | { readonly kind: "valid-then-garbage"; readonly frame: WireFrame; readonly bytes: Uint8Array }

/** Frames aimed at node 1 of cluster `clusterId`, sometimes from a stranger, to another node or cluster. */
const hostileFrame = (clusterId: string) =>
  fc.record({
    clusterId: fc.constantFrom(clusterId, clusterId, "other"),
    from: fc.constantFrom(2, 3, 42),
    to: fc.constantFrom(1, 1, 5),
    message: Arb.message
  })

/** One hostile connection's bytes, against node 1 of cluster `clusterId`. */
export const attack = (clusterId: string): fc.Arbitrary<Attack> =>
  fc.oneof(
    fc.record({ kind: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 2000 }) }),
    fc.record({
      kind: fc.constant("framed-garbage" as const),
      versioned: fc.boolean(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 2000 })
    }),
    fc.record({
      kind: fc.constant("mutated" as const),
      frame: hostileFrame(clusterId),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })
    }),
    fc.record({
      kind: fc.constant("huge-prefix" as const),
      frame: hostileFrame(clusterId),
      length: fc.integer({ min: 1 << 16, max: 0xffff_ffff })
    }),
    fc.record({ kind: fc.constant("truncated" as const), frame: hostileFrame(clusterId), keep: fc.nat() }),
    fc.record({
      kind: fc.constant("valid-then-garbage" as const),
      frame: hostileFrame(clusterId),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 300 })
    })
  )

/** The bytes an attack writes. */
export const attackBytes = (a: Attack): Uint8Array => {
  switch (a.kind) {
    case "garbage":
      return a.bytes
    case "framed-garbage": {
      // A well-framed body of noise, so the decoder (not just the framer) gets exercised.
      const out = new Uint8Array(4 + a.bytes.length)
      writeLengthPrefix(out, a.bytes.length)
      out.set(a.bytes, 4)
      if (a.versioned) out[4] = FORMAT_VERSION
      return out
    }
    case "mutated": {
      const bytes = frameBytes(a.frame).slice()
      for (const [at, xor] of a.flips) bytes[at % bytes.length]! ^= xor
      return bytes
    }
    case "huge-prefix": {
      const bytes = frameBytes(a.frame).slice()
      writeLengthPrefix(bytes, a.length)
      return bytes
    }
    case "truncated": {
      const bytes = frameBytes(a.frame)
      return bytes.subarray(0, a.keep % bytes.length)
    }
    case "valid-then-garbage": {
      const frame = frameBytes(a.frame)
      const out = new Uint8Array(frame.length + a.bytes.length)
      out.set(frame)
      out.set(a.bytes, frame.length)
      return out
    }
  }
}
