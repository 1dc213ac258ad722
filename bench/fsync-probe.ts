/**
 * The disk's floor for a synced append, as the nodes' log does it (`write` + `fdatasync` of a
 * growing file), in three patterns:
 * - back to back: one writer, the next append as soon as the last is durable;
 * - with idle gaps: one writer pausing `--gap-ms` between appends (the thread sleeps), as a node
 *   at low load does; on a VM the first flush after a pause is slower;
 * - concurrent: `--writers` threads appending back to back to their own files at once, as the
 *   members of a local cluster do.
 * Run it alone, and again beside a bench run, to see how much of a node's persist time is the
 * disk and how much is the machine being busy.
 *
 * Usage: node bench/fsync-probe.ts [--dir DIR] [--seconds 3] [--bytes 2048] [--gap-ms 1]
 *   [--writers 3]
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"

interface Job {
  readonly file: string
  readonly seconds: number
  readonly bytes: number
  readonly gapMs: number
}

interface Figures {
  readonly count: number
  readonly p50: number
  readonly mean: number
  readonly p90: number
  readonly p99: number
}

/** Append + fdatasync in a loop for `job.seconds`; latencies in ms. */
const probe = (job: Job): Figures => {
  const fd = openSync(job.file, "w")
  const data = Buffer.alloc(job.bytes, 7)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const latencies: number[] = []
  const end = performance.now() + job.seconds * 1000
  try {
    while (performance.now() < end) {
      const t = performance.now()
      writeSync(fd, data)
      fdatasyncSync(fd)
      latencies.push(performance.now() - t)
      if (job.gapMs > 0) Atomics.wait(pause, 0, 0, job.gapMs)
    }
  } finally {
    closeSync(fd)
  }
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return {
    count: latencies.length,
    p50: at(0.5),
    mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    p90: at(0.9),
    p99: at(0.99)
  }
}

const inWorker = (job: Job): Promise<Figures> =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job })
    w.once("message", resolve)
    w.once("error", reject)
  })

if (!isMainThread) {
  parentPort?.postMessage(probe(workerData as Job))
} else {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      seconds: { type: "string", default: "3" },
      bytes: { type: "string", default: "2048" },
      "gap-ms": { type: "string", default: "1" },
      writers: { type: "string", default: "3" }
    }
  })
  const seconds = Number(values.seconds)
  const bytes = Number(values.bytes)
  const gapMs = Number(values["gap-ms"])
  const writers = Number(values.writers)
  if (![seconds, bytes, gapMs, writers].every((x) => Number.isFinite(x) && x >= 0) || writers < 1) {
    process.stderr.write(
      "fsync-probe: --seconds, --bytes, --gap-ms and --writers take non-negative numbers\n"
    )
    process.exit(2)
  }
  const dir = mkdtempSync(join(values.dir ?? tmpdir(), "raftkv-fsync-probe-"))
  const job = (k: number, gap: number): Job => ({ file: join(dir, `w${k}`), seconds, bytes, gapMs: gap })
  const ms = (x: number) => x.toFixed(3)
  const line = (name: string, figures: ReadonlyArray<Figures>) => {
    const rate = figures.reduce((a, f) => a + f.count, 0) / seconds
    const mid = (pick: (f: Figures) => number) =>
      ms(figures.map(pick).sort((a, b) => a - b)[figures.length >> 1]!)
    process.stdout.write(
      `| ${name} | ${figures.length} | ${Math.round(rate)} | ${mid((f) => f.p50)} | ${mid((f) => f.mean)} | ${mid((f) => f.p90)} | ${mid((f) => f.p99)} |\n`
    )
  }
  try {
    process.stdout.write(
      `${bytes}-byte appends + fdatasync in ${dir}, ${seconds} s each (ms; median over writers)\n\n` +
        "| pattern | writers | fsyncs/s | p50 | mean | p90 | p99 |\n|---|---|---|---|---|---|---|\n"
    )
    line("back to back", [await inWorker(job(0, 0))])
    line(`${gapMs} ms idle gaps`, [await inWorker(job(0, gapMs))])
    line(
      "concurrent, back to back",
      await Promise.all(Array.from({ length: writers }, (_, k) => inWorker(job(k, 0))))
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
