/**
 * Synced group-commit latency of the disk LogStore with each log engine: one `write` of a batch of
 * 1, 16 or 128 entries of 128 bytes (one fsynced frame, or one fsynced LevelDB batch), and a raw
 * classic-level synced batch of the same keys and values as LevelDB's floor. Prints a table, then
 * one JSON line.
 *
 *   npx node bench/storage.ts [batchesPerSize=2000]
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { ClassicLevel } from "classic-level"
import { Effect } from "effect"
import type { Entry, Persist } from "../src/core/types.ts"
import { encodeEntry, entryKey } from "../src/storage/codec.ts"
import { type LogEngine, makeDiskLogStore } from "../src/storage/disk.ts"

const SIZES = [1, 16, 128] as const
const ENTRY_BYTES = 128
const WARMUP = 100
const batches = Number(process.argv[2] ?? 2000)

interface Figures {
  readonly median: number
  readonly p99: number
  readonly mean: number
  readonly entriesPerSec: number
}

const figures = (samples: Array<number>, entries: number): Figures => {
  const sorted = samples.slice().sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const total = samples.reduce((a, b) => a + b, 0)
  const round = (x: number) => Math.round(x * 1000) / 1000
  return {
    median: round(at(0.5)),
    p99: round(at(0.99)),
    mean: round(total / samples.length),
    entriesPerSec: Math.round((entries * samples.length * 1000) / total)
  }
}

const makeEntries = (n: number): Array<Entry> =>
  Array.from({ length: n }, (_, i) => ({
    term: 1,
    kind: "command",
    data: new Uint8Array(ENTRY_BYTES).fill(i & 255)
  }))

/** LogStore.write: each batch appends `size` entries at the end of the log. */
const benchStore = (dataDir: string, size: number, engine: LogEngine) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* makeDiskLogStore({ dataDir, clusterId: "bench", nodeId: 1, engine })
      const entries = makeEntries(size)
      let next = 1
      const samples: Array<number> = []
      for (let b = 0; b < WARMUP + batches; b++) {
        const p: Persist = {
          _tag: "Persist",
          writeId: b + 1,
          hardState: undefined,
          log: { from: next, entries }
        }
        const t0 = performance.now()
        yield* store.write([p])
        const dt = performance.now() - t0
        next += size
        if (b >= WARMUP) samples.push(dt)
      }
      return figures(samples, size)
    })
  )

/** The floor: a raw synced classic-level batch of the same keys and values. */
const benchRaw = async (dir: string, size: number): Promise<Figures> => {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" })
  await db.open()
  const entries = makeEntries(size)
  let next = 1
  const samples: Array<number> = []
  for (let b = 0; b < WARMUP + batches; b++) {
    const t0 = performance.now()
    const ops = entries.map((e, i) => ({
      type: "put" as const,
      key: entryKey(next + i),
      value: encodeEntry(e)
    }))
    await db.batch(ops, { sync: true })
    const dt = performance.now() - t0
    next += size
    if (b >= WARMUP) samples.push(dt)
  }
  await db.close()
  return figures(samples, size)
}

const main = async () => {
  const root = await fs.mkdtemp(nodePath.join(os.tmpdir(), "raftkv-bench-storage-"))
  const result: Record<string, { segments: Figures; leveldb: Figures; rawLeveldb: Figures }> = {}
  const cell = (f: Figures) => `${f.median.toFixed(3).padStart(8)} ${f.p99.toFixed(3).padEnd(7)}`
  try {
    console.log(
      `synced batch latency (ms, median p99), ${batches} batches per size, ${ENTRY_BYTES}-byte entries, dir ${root}`
    )
    console.log("entries/batch  segments          leveldb           raw classic-level")
    for (const size of SIZES) {
      const dir = (what: string) => nodePath.join(root, `${what}-${size}`)
      const segments = await Effect.runPromise(benchStore(dir("segments"), size, "segments"))
      const leveldb = await Effect.runPromise(benchStore(dir("leveldb"), size, "leveldb"))
      const rawLeveldb = await benchRaw(dir("raw"), size)
      result[String(size)] = { segments, leveldb, rawLeveldb }
      console.log(`${String(size).padStart(13)}  ${cell(segments)}  ${cell(leveldb)}  ${cell(rawLeveldb)}`)
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true })
  }
  console.log(
    JSON.stringify({ bench: "storage", unit: "ms", entryBytes: ENTRY_BYTES, batches, sizes: result })
  )
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
