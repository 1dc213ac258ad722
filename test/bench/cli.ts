/** Run `raftkv bench` as a child process and collect its output (bounded by a deadline). */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

export interface BenchRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const runBenchCli = (args: ReadonlyArray<string>, timeoutMs: number): Promise<BenchRun> =>
  new Promise((done) => {
    const child = spawn(process.execPath, [main, "bench", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
    })
    // SIGINT lets the bench stop its clusters; a run that ignores it is killed.
    const timer = setTimeout(() => {
      child.kill("SIGINT")
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref()
    }, timeoutMs)
    child.on("exit", (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })

/** The last non-empty line of stdout, parsed as JSON. */
export const summaryLine = (stdout: string): Record<string, unknown> => {
  const lines = stdout.trim().split("\n")
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>
}
