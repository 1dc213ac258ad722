/**
 * Running Prometheus' tools from tests. They are required (CI installs the Debian package
 * `prometheus`): a missing binary fails the test with a message saying so, never skips it.
 */
import { spawnSync } from "node:child_process"

/** Absolute path of a Prometheus binary, or a thrown error saying how to install it. */
export const requireBinary = (name: "prometheus" | "promtool"): string => {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" })
  const path = r.stdout.trim()
  if (r.status !== 0 || path === "") {
    throw new Error(
      `${name} is not installed: these tests need a real Prometheus (apt-get install -y prometheus)`
    )
  }
  return path
}

export interface ToolResult {
  readonly status: number | null
  readonly output: string
}

/** `promtool <args>` with `input` on stdin; output is stdout and stderr together. */
export const promtool = (args: ReadonlyArray<string>, input?: string): ToolResult => {
  const r = spawnSync(requireBinary("promtool"), args, {
    input: input ?? "",
    encoding: "utf8",
    timeout: 30_000
  })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}
