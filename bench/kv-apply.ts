/**
 * KV state machine benchmark: `npx node bench/kv-apply.ts`
 *
 * 1. codec: the hand-rolled command layout vs SchemaBinary (why command.ts is hand-rolled).
 * 2. apply: puts over 10k keys with 128-byte values, from pre-encoded entries (what a follower
 *    does), 64 sessions each writing serially (ack = seq - 1).
 * 3. snapshot + restore of 100k keys (128-byte values): time, size, peak heap (heapUsed +
 *    arrayBuffers above the level before), and the cost of applying while a snapshot is streamed.
 * Prints human-readable lines and ends with one JSON line.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Schema } from "effect"
import { SchemaBinary } from "effect/encoding"
import type { Entry } from "../src/core/types.ts"
import { type Command, decodeCommand, encodeCommand } from "../src/kv/command.ts"
import { KvStateMachine } from "../src/kv/state-machine.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const te = new TextEncoder()
const memory = (): number => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`
/** Runs `f` several times and keeps the best run by `score` (machines here are shared and noisy). */
const best = <T>(runs: number, score: (t: T) => number, f: () => T): T => {
  let out = f()
  for (let i = 1; i < runs; i++) {
    const next = f()
    if (score(next) > score(out)) out = next
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// 1. codec
// ---------------------------------------------------------------------------------------------
const codecBench = () => {
  const U = Schema.Int
  const header = {
    at: U,
    session: U,
    seq: U,
    ack: U,
    expectedVersion: Schema.optionalKey(U),
    key: Schema.Uint8Array
  }
  const CommandSchema = Schema.Union([
    Schema.TaggedStruct("OpenSession", { at: U }),
    Schema.TaggedStruct("CloseSession", { at: U, session: U }),
    Schema.TaggedStruct("Put", { ...header, value: Schema.Uint8Array }),
    Schema.TaggedStruct("Delete", header)
  ])
  const codec = SchemaBinary.toCodec(CommandSchema, { fingerprint: true })
  const sbEncode = Schema.encodeSync(codec)
  const sbDecode = Schema.decodeSync(codec)
  const cmd: Command = {
    _tag: "Put",
    at: Date.now(),
    session: 1234,
    seq: 99_999,
    ack: 99_998,
    key: te.encode("user:12345:abcde"),
    value: new Uint8Array(128).fill(7)
  }
  const rate = (n: number, f: () => void): number => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) f()
    return n / ((performance.now() - t0) / 1000)
  }
  return best(
    5,
    (r) => r.handDecodePerSec,
    () => {
      const hand = encodeCommand(cmd)
      const sb = sbEncode(cmd as never)
      return {
        handEncodePerSec: rate(300_000, () => encodeCommand(cmd)),
        handDecodePerSec: rate(300_000, () => decodeCommand(hand)),
        handBytes: hand.length,
        schemaBinaryEncodePerSec: rate(30_000, () => sbEncode(cmd as never)),
        schemaBinaryDecodePerSec: rate(30_000, () => sbDecode(sb)),
        schemaBinaryBytes: sb.length
      }
    }
  )
}

// ---------------------------------------------------------------------------------------------
// 2. apply
// ---------------------------------------------------------------------------------------------
const KEYS = 10_000
const SESSIONS = 64
const OPS = 500_000

const applyBench = () => {
  const value = new Uint8Array(128).fill(1)
  const keys = Array.from({ length: KEYS }, (_, i) => te.encode(`key-${i.toString().padStart(8, "0")}`))
  const at = 1_700_000_000_000
  // Pre-encode: sessions open at indices 1..SESSIONS, then OPS puts round-robin over sessions.
  const entries: Array<Entry> = []
  for (let s = 0; s < SESSIONS; s++) {
    entries.push({ term: 1, kind: "command", data: encodeCommand({ _tag: "OpenSession", at }) })
  }
  for (let i = 0; i < OPS; i++) {
    const session = (i % SESSIONS) + 1
    const seq = Math.floor(i / SESSIONS) + 1
    const data = encodeCommand({
      _tag: "Put",
      at: at + Math.floor(i / 50),
      session,
      seq,
      ack: seq - 1,
      key: keys[(i * 7919) % KEYS]!,
      value
    })
    entries.push({ term: 1, kind: "command", data })
  }
  return best(
    5,
    (r) => r.appliesPerSec,
    () => {
      gc()
      const sm = new KvStateMachine()
      const t0 = performance.now()
      for (let i = 0; i < entries.length; i++) sm.apply(i + 1, entries[i]!)
      const seconds = (performance.now() - t0) / 1000
      if (sm.keyCount !== KEYS || sm.sessionCount !== SESSIONS) throw new Error("apply bench: wrong state")
      return { appliesPerSec: entries.length / seconds }
    }
  )
}

// ---------------------------------------------------------------------------------------------
// 3. snapshot + restore
// ---------------------------------------------------------------------------------------------
const SNAP_KEYS = 100_000

const fill = (n: number): KvStateMachine => {
  const sm = new KvStateMachine()
  const value = new Uint8Array(128).fill(2)
  let index = 1
  sm.apply(index++, { term: 1, kind: "command", data: encodeCommand({ _tag: "OpenSession", at: 1 }) })
  for (let i = 0; i < n; i++) {
    const key = te.encode(`key-${i.toString().padStart(8, "0")}`)
    const data = encodeCommand({ _tag: "Put", at: 1, session: 1, seq: i + 1, ack: i, key, value })
    sm.apply(index++, { term: 1, kind: "command", data })
  }
  return sm
}

const snapshotBench = () => {
  const sm = fill(SNAP_KEYS)
  const storeBytes = sm.dataBytes
  // Snapshot, consuming chunks as a writer to disk would (not keeping them): time and peak.
  const snapshotRun = () => {
    gc()
    const base = memory()
    let peak = 0
    const t0 = performance.now()
    let bytes = 0
    let chunks = 0
    for (const chunk of sm.snapshot()) {
      bytes += chunk.length
      chunks++
      if (chunks % 16 === 0) peak = Math.max(peak, memory() - base)
    }
    const ms = performance.now() - t0
    return { ms, bytes, chunks, peak: Math.max(peak, memory() - base) }
  }
  const snap = best(3, (r) => -r.ms, snapshotRun)

  // Restore from chunks kept in memory (the input itself is excluded from the peak).
  const kept = [...sm.snapshot()]
  const restoreRun = () => {
    const target = new KvStateMachine()
    gc()
    const base = memory()
    let peak = 0
    const t0 = performance.now()
    const restorer = target.beginRestore()
    for (let i = 0; i < kept.length; i++) {
      const error = restorer.push(kept[i]!)
      if (error !== undefined) throw error
      if (i % 16 === 0) peak = Math.max(peak, memory() - base)
    }
    const error = restorer.finish()
    if (error !== undefined) throw error
    const ms = performance.now() - t0
    if (target.keyCount !== SNAP_KEYS) throw new Error("restore bench: wrong key count")
    return { ms, peak: Math.max(peak, memory() - base) }
  }
  const restore = best(3, (r) => -r.ms, restoreRun)

  // Applying while a snapshot streams: overwrite every key once, one chunk's worth of puts
  // between chunks.
  const value = new Uint8Array(128).fill(3)
  const overwrite: Array<Entry> = []
  for (let i = 0; i < SNAP_KEYS; i++) {
    const key = te.encode(`key-${i.toString().padStart(8, "0")}`)
    const seq = SNAP_KEYS + i + 1
    overwrite.push({
      term: 1,
      kind: "command",
      data: encodeCommand({ _tag: "Put", at: 2, session: 1, seq, ack: seq - 1, key, value })
    })
  }
  gc()
  const base = memory()
  let peak = 0
  const t0 = performance.now()
  let next = 0
  let index = sm.appliedIndex
  for (const _chunk of sm.snapshot()) {
    for (let j = 0; j < 400 && next < overwrite.length; j++) sm.apply(++index, overwrite[next++]!)
    peak = Math.max(peak, memory() - base)
  }
  while (next < overwrite.length) sm.apply(++index, overwrite[next++]!)
  const concurrentMs = performance.now() - t0
  return {
    keys: SNAP_KEYS,
    storeBytes,
    snapshotBytes: snap.bytes,
    snapshotChunks: snap.chunks,
    snapshotMs: snap.ms,
    snapshotPeakBytes: snap.peak,
    restoreMs: restore.ms,
    restorePeakBytes: restore.peak,
    snapshotWithOverwriteAllMs: concurrentMs,
    snapshotWithOverwriteAllPeakBytes: peak
  }
}

const codec = codecBench()
console.log(
  `codec: hand-rolled enc ${(codec.handEncodePerSec / 1e6).toFixed(2)}M/s dec ${(codec.handDecodePerSec / 1e6).toFixed(2)}M/s ${codec.handBytes} B; ` +
    `SchemaBinary enc ${(codec.schemaBinaryEncodePerSec / 1e6).toFixed(2)}M/s dec ${(codec.schemaBinaryDecodePerSec / 1e6).toFixed(2)}M/s ${codec.schemaBinaryBytes} B`
)
const apply = applyBench()
console.log(
  `apply: ${Math.round(apply.appliesPerSec).toLocaleString("en")} puts/s (${KEYS} keys, 128 B values, ${SESSIONS} sessions, decode included)`
)
const snap = snapshotBench()
console.log(
  `snapshot: ${snap.keys} keys (${mb(snap.storeBytes)} of keys+values) -> ${mb(snap.snapshotBytes)} in ${snap.snapshotChunks} chunks, ` +
    `${snap.snapshotMs.toFixed(0)} ms, peak +${mb(snap.snapshotPeakBytes)}`
)
console.log(
  `restore: ${snap.restoreMs.toFixed(0)} ms, peak +${mb(snap.restorePeakBytes)} (the restored store itself)`
)
console.log(
  `snapshot while overwriting every key: ${snap.snapshotWithOverwriteAllMs.toFixed(0)} ms, peak +${mb(snap.snapshotWithOverwriteAllPeakBytes)}`
)
console.log(JSON.stringify({ bench: "kv-apply", node: process.version, codec, apply, snapshot: snap }))
