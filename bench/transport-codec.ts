/**
 * Peer frame codec throughput: encode, decode and encode+decode of an AppendEntries with 64 entries
 * of 128 bytes (and of an empty heartbeat), through `src/transport/codec.ts` (validation included).
 *
 * Run: `node bench/transport-codec.ts` (Node 24 from node_modules). Prints one line per case and a
 * final JSON line with every figure: ops/s of wall time and CPU microseconds per op (the latter
 * is the steadier figure on a shared machine).
 */
import { Result } from "effect"
import type { AppendEntries } from "../src/core/types.ts"
import { decodeBody, encodeFrame, LENGTH_PREFIX_BYTES } from "../src/transport/codec.ts"
import type { WireFrame } from "../src/transport/schema.ts"

const appendEntries = (entries: number, bytes: number): WireFrame => {
  const message: AppendEntries = {
    _tag: "AppendEntries",
    term: 7,
    prevLogIndex: 100_000,
    prevLogTerm: 7,
    entries: Array.from({ length: entries }, (_, i) => ({
      term: 7,
      kind: "command" as const,
      data: new Uint8Array(bytes).fill(i & 0xff)
    })),
    leaderCommit: 99_990,
    round: 0
  }
  return { clusterId: "bench-cluster", from: 1, to: 2, message }
}

/** Wall-clock ops/s, and CPU microseconds per op (steadier when the machine is shared). */
const measure = (
  f: () => void,
  millis = 2000
): { readonly opsPerSec: number; readonly cpuMicros: number } => {
  for (let i = 0; i < 2000; i++) f()
  let ops = 0
  const start = performance.now()
  const cpu = process.cpuUsage()
  let elapsed = 0
  while (elapsed < millis) {
    for (let i = 0; i < 100; i++) f()
    ops += 100
    elapsed = performance.now() - start
  }
  const used = process.cpuUsage(cpu)
  return {
    opsPerSec: Math.round(ops / (elapsed / 1000)),
    cpuMicros: Number(((used.user + used.system) / ops).toFixed(2))
  }
}

const encodeOrDie = (frame: WireFrame): Uint8Array => {
  const r = encodeFrame(frame)
  if (Result.isFailure(r)) throw new Error(r.failure.detail)
  return r.success
}

const decodeOrDie = (body: Uint8Array): void => {
  const r = decodeBody(body)
  if (Result.isFailure(r)) throw new Error(r.failure.detail)
}

const cases = { "append-64x128": appendEntries(64, 128), heartbeat: appendEntries(0, 0) }
const results: Record<string, unknown> = {}
for (const [name, frame] of Object.entries(cases)) {
  const encoded = encodeOrDie(frame)
  const body = encoded.subarray(LENGTH_PREFIX_BYTES)
  const encode = measure(() => encodeOrDie(frame))
  const decode = measure(() => decodeOrDie(body))
  const roundTrip = measure(() => decodeOrDie(encodeOrDie(frame).subarray(LENGTH_PREFIX_BYTES)))
  const show = (m: { readonly opsPerSec: number; readonly cpuMicros: number }) =>
    `${m.opsPerSec} ops/s (${m.cpuMicros} us CPU/op)`
  console.log(
    `${name}: ${encoded.length} bytes/frame, encode ${show(encode)}, decode ${show(decode)}, ` +
      `encode+decode ${show(roundTrip)}`
  )
  results[name] = { frameBytes: encoded.length, encode, decode, roundTrip }
}
console.log(JSON.stringify({ bench: "transport-codec", node: process.version, results }))
