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
import { setTimeout as delay } from "node:timers/promises"
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
/** Full GC, then a pause: ArrayBuffer backing stores are released off-thread, so `arrayBuffers`
 * lags a synchronous gc(). Used before every baseline. */
const settle = async (): Promise<number> => {
  gc()
  await delay(100)
  gc()
  return memory()
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

const overwriteAll = (round: number): Array<Entry> => {
  const value = new Uint8Array(128).fill(3 + round)
  // From the last key to the first: against the snapshot's walk, so every replaced record is one
  // it has not emitted yet and must keep (the worst case for its memory).
  return Array.from({ length: SNAP_KEYS }, (_, i) => {
    const key = te.encode(`key-${(SNAP_KEYS - 1 - i).toString().padStart(8, "0")}`)
    const seq = SNAP_KEYS * (round + 1) + i + 1
    return {
      term: 1,
      kind: "command",
      data: encodeCommand({ _tag: "Put", at: 2, session: 1, seq, ack: seq - 1, key, value })
    }
  })
}

const snapshotBench = async () => {
  const empty = await settle()
  const sm = fill(SNAP_KEYS)
  const storeHeap = (await settle()) - empty
  const storeBytes = sm.dataBytes

  /** Streams a snapshot of `sm`, calling `between` after each chunk. With `sample`, collects
   * garbage every 8 chunks and records the live heap above `base`: what is really held, not
   * chunks already dropped but not yet collected (an over-estimate: see settle). */
  const stream = (base: number | undefined, between: () => void = () => {}) => {
    let peak = 0
    let bytes = 0
    let chunks = 0
    const t0 = performance.now()
    for (const chunk of sm.snapshot()) {
      bytes += chunk.length
      chunks++
      between()
      if (base !== undefined && chunks % 8 === 0) {
        gc()
        peak = Math.max(peak, memory() - base)
      }
    }
    return { ms: performance.now() - t0, bytes, chunks, peak }
  }
  let snap = stream(undefined)
  for (let i = 0; i < 2; i++) {
    const again = stream(undefined)
    if (again.ms < snap.ms) snap = again
  }
  const snapLive = stream(await settle())

  // Restore from chunks kept in memory (the input itself is excluded from the peak).
  const kept = [...sm.snapshot()]
  const restoreRun = (base: number | undefined) => {
    const target = new KvStateMachine()
    let peak = 0
    const t0 = performance.now()
    const restorer = target.beginRestore()
    for (let i = 0; i < kept.length; i++) {
      const error = restorer.push(kept[i]!)
      if (error !== undefined) throw error
      if (base !== undefined && i % 8 === 0) {
        gc()
        peak = Math.max(peak, memory() - base)
      }
    }
    const error = restorer.finish()
    if (error !== undefined) throw error
    const ms = performance.now() - t0
    if (target.keyCount !== SNAP_KEYS) throw new Error("restore bench: wrong key count")
    return { ms, peak, target }
  }
  let restoreMs = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) restoreMs = Math.min(restoreMs, restoreRun(undefined).ms)
  let base = await settle()
  const restoreLive = restoreRun(base)
  const restoredHeap = (await settle()) - base
  restoreLive.target.get(new Uint8Array(0)) // keep the restored store alive until measured

  // Applying while a snapshot streams: overwrite every key, 400 puts between chunks. The stream
  // still captures the values at its start; the records replaced before it reached them are kept
  // until it emits them.
  let index = sm.appliedIndex
  const rounds = [overwriteAll(0), overwriteAll(1)]
  const during = (round: Array<Entry>, base: number | undefined) => {
    let next = 0
    const result = stream(base, () => {
      for (let j = 0; j < 400 && next < round.length; j++) sm.apply(++index, round[next++]!)
    })
    const duringPuts = next
    while (next < round.length) sm.apply(++index, round[next++]!)
    return { ...result, duringPuts }
  }
  const timed = during(rounds[0]!, undefined)
  base = await settle()
  const sampled = during(rounds[1]!, base)
  const after = (await settle()) - base
  return {
    keys: SNAP_KEYS,
    storeBytes,
    storeHeapBytes: storeHeap,
    snapshotBytes: snap.bytes,
    snapshotChunks: snap.chunks,
    snapshotMs: snap.ms,
    snapshotLivePeakBytes: snapLive.peak,
    restoreMs,
    restoreLivePeakBytes: restoreLive.peak,
    restoredStoreBytes: restoredHeap,
    duringOverwriteMs: timed.ms,
    duringOverwritePuts: timed.duringPuts,
    duringOverwriteLivePeakBytes: sampled.peak,
    afterOverwriteBytes: after
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
const snap = await snapshotBench()
console.log(
  `store: ${snap.keys} keys, ${mb(snap.storeBytes)} of keys+values, ${mb(snap.storeHeapBytes)} of heap ` +
    `(${Math.round(snap.storeHeapBytes / snap.keys)} B/key)`
)
console.log(
  `snapshot: ${mb(snap.snapshotBytes)} in ${snap.snapshotChunks} chunks, ${snap.snapshotMs.toFixed(0)} ms, ` +
    `live heap while streaming +${mb(snap.snapshotLivePeakBytes)}`
)
console.log(
  `restore: ${snap.restoreMs.toFixed(0)} ms, live heap peak +${mb(snap.restoreLivePeakBytes)} ` +
    `(the restored store alone: +${mb(snap.restoredStoreBytes)})`
)
console.log(
  `snapshot while overwriting every key: ${snap.duringOverwritePuts} puts applied during the stream, ` +
    `${snap.duringOverwriteMs.toFixed(0)} ms in all, live heap peak +${mb(snap.duringOverwriteLivePeakBytes)} ` +
    `(after it: ${mb(snap.afterOverwriteBytes)})`
)
console.log(JSON.stringify({ bench: "kv-apply", node: process.version, codec, apply, snapshot: snap }))
