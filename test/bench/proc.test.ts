/**
 * The bench's /proc readers: run-queue wait and V8 helper threads' CPU summed over a process's
 * threads, read from a fake procfs (exact arithmetic) and from this very process (the real files
 * parse).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { runQueueSeconds, sampleProcess, v8WorkerCpuSeconds } from "../../src/bench/proc.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A fake procfs holding process 42 with the given text of one per-thread `file` per thread. */
const fakeProc = (threads: Record<string, string>, file = "schedstat"): string => {
  const root = mkdtempSync(join(tmpdir(), "raftkv-proc-"))
  dirs.push(root)
  for (const [tid, text] of Object.entries(threads)) {
    mkdirSync(join(root, "42", "task", tid), { recursive: true })
    writeFileSync(join(root, "42", "task", tid, file), text)
  }
  return root
}

/** A thread's `stat` line: name, then utime and stime (fields 14 and 15) in clock ticks. */
const statLine = (tid: string, name: string, utime: number, stime: number) =>
  `${tid} (${name}) S 1 42 42 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 123 0 0\n`

describe("runQueueSeconds", () => {
  it("sums the second schedstat field (ns waiting on a run queue) over every thread", () => {
    const proc = fakeProc({ "42": "9000000 2000000000 17\n", "43": "1 500000000 2\n" })
    expect(runQueueSeconds(42, proc)).toBeCloseTo(2.5, 9)
  })

  it("skips a thread whose file cannot be read or parsed, and counts the others", () => {
    const proc = fakeProc({ "42": "5 250000000 1\n", "43": "garbage\n" })
    mkdirSync(join(proc, "42", "task", "44"), { recursive: true }) // a thread gone between listing and reading
    expect(runQueueSeconds(42, proc)).toBeCloseTo(0.25, 9)
  })

  it("is undefined for a process that is not there, or whose threads all lack the figure", () => {
    expect(runQueueSeconds(7, fakeProc({ "42": "1 2 3\n" }))).toBeUndefined()
    expect(runQueueSeconds(42, fakeProc({ "42": "no numbers here\n" }))).toBeUndefined()
  })

  it("reads this process's own threads from the real /proc, and never goes down", () => {
    const a = runQueueSeconds(process.pid)
    const b = runQueueSeconds(process.pid)
    expect(a).toBeGreaterThanOrEqual(0)
    expect(b).toBeGreaterThanOrEqual(a!)
    expect(sampleProcess(process.pid)?.runQueueSeconds).toBeGreaterThanOrEqual(a!)
  })
})

describe("v8WorkerCpuSeconds", () => {
  // USER_HZ is 100 on Linux, the only system with these files.
  it("sums user + system time of the threads named V8Worker only", () => {
    const proc = fakeProc(
      {
        "42": statLine("42", "node", 5000, 700),
        "43": statLine("43", "V8Worker", 120, 30),
        "44": statLine("44", "V8Worker", 40, 10),
        "45": statLine("45", "libuv-worker", 900, 900)
      },
      "stat"
    )
    expect(v8WorkerCpuSeconds(42, proc)).toBeCloseTo(2.0, 9)
  })

  it("reads a name holding spaces and parentheses, and skips an unparsable thread", () => {
    const proc = fakeProc(
      { "42": statLine("42", "odd) (name", 1, 1), "43": statLine("43", "V8Worker", 50, 0), "44": "garbage" },
      "stat"
    )
    expect(v8WorkerCpuSeconds(42, proc)).toBeCloseTo(0.5, 9)
  })

  it("is 0 for a process without helper threads and undefined for one that is not there", () => {
    const proc = fakeProc({ "42": statLine("42", "node", 10, 10) }, "stat")
    expect(v8WorkerCpuSeconds(42, proc)).toBe(0)
    expect(v8WorkerCpuSeconds(7, proc)).toBeUndefined()
  })

  it("reads this process's own threads, and never more than the whole process used", () => {
    const helpers = v8WorkerCpuSeconds(process.pid)
    const whole = sampleProcess(process.pid)
    expect(helpers).toBeGreaterThanOrEqual(0)
    expect(whole?.v8WorkerCpuSeconds).toBeGreaterThanOrEqual(helpers!)
    expect(whole!.cpuSeconds + 0.05).toBeGreaterThanOrEqual(whole!.v8WorkerCpuSeconds!)
  })
})
