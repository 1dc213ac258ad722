/**
 * The bench's /proc readers: run-queue wait summed over a process's threads, read from a fake
 * procfs (exact arithmetic) and from this very process (the real files parse).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { runQueueSeconds, sampleProcess } from "../../src/bench/proc.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A fake procfs holding process 42 with the given `schedstat` text per thread. */
const fakeProc = (threads: Record<string, string>): string => {
  const root = mkdtempSync(join(tmpdir(), "raftkv-proc-"))
  dirs.push(root)
  for (const [tid, text] of Object.entries(threads)) {
    mkdirSync(join(root, "42", "task", tid), { recursive: true })
    writeFileSync(join(root, "42", "task", tid, "schedstat"), text)
  }
  return root
}

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
