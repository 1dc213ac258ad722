/**
 * `raftkv node --log-store`: a data dir keeps the log engine it was created with. A node started
 * on it with the other engine exits with an error that names the flag, and changes nothing; with
 * the right flag it starts again with its data.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Exit } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { bytes, RawClient, text } from "./client.ts"
import { eventually, freePort } from "./processes.ts"

const main = join(import.meta.dirname, "../../src/cli/main.ts")

interface Node {
  readonly child: ChildProcess
  output: string
  readonly exited: Promise<number | null>
}

const dirs: string[] = []
const nodes: Node[] = []

afterEach(() => {
  for (const n of nodes.splice(0)) n.child.kill("SIGKILL")
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const startNode = (dataDir: string, peerPort: number, clientPort: number, extra: string[]): Node => {
  const child = spawn(
    process.execPath,
    [
      main,
      "node",
      "--id",
      "1",
      "--peers",
      `1=127.0.0.1:${peerPort}`,
      "--client",
      `127.0.0.1:${clientPort}`,
      "--data-dir",
      dataDir,
      "--election-timeout-min",
      "300",
      "--election-timeout-max",
      "600",
      ...extra
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  const node: Node = {
    child,
    output: "",
    exited: new Promise((done) => child.once("exit", (code) => done(code)))
  }
  const append = (chunk: Buffer) => {
    node.output += chunk.toString()
  }
  child.stdout!.on("data", append)
  child.stderr!.on("data", append)
  nodes.push(node)
  return node
}

/** Put (or read back) through a single-node cluster once it has elected itself. */
const put = async (endpoint: string, key: string, value: string): Promise<void> => {
  const client = await RawClient.connect(endpoint)
  try {
    await eventually(`put ${key}`, 20_000, async () => {
      const session = await client.run((rpc) => rpc.OpenSession())
      if (Exit.isFailure(session)) return undefined
      const exit = await client.run((rpc) =>
        rpc.Put({ session: session.value.session, seq: 1, ack: 0, key: bytes(key), value: bytes(value) })
      )
      return Exit.isSuccess(exit) ? true : undefined
    })
  } finally {
    await client.close().catch(() => undefined)
  }
}

const get = async (endpoint: string, key: string): Promise<string | undefined> => {
  const client = await RawClient.connect(endpoint)
  try {
    return await eventually(`get ${key}`, 20_000, async () => {
      const exit = await client.run((rpc) => rpc.Get({ key: bytes(key), consistency: "linearizable" }))
      if (Exit.isFailure(exit)) return undefined
      return exit.value.entry === null ? "(none)" : text(exit.value.entry.value)
    })
  } finally {
    await client.close().catch(() => undefined)
  }
}

describe("raftkv node --log-store", () => {
  it("a LevelDB data dir needs --log-store leveldb: without it the node exits naming the flag", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raftkv-logstore-"))
    dirs.push(dir)
    const dataDir = join(dir, "n1")
    const [peerPort, clientPort] = [await freePort(), await freePort()]
    const endpoint = `127.0.0.1:${clientPort}`

    const first = startNode(dataDir, peerPort, clientPort, ["--log-store", "leveldb"])
    await put(endpoint, "k", "kept in LevelDB")
    first.child.kill("SIGTERM")
    await first.exited

    const wrong = startNode(dataDir, peerPort, clientPort, [])
    const code = await Promise.race([
      wrong.exited,
      new Promise<string>((done) => setTimeout(() => done("still running after 20 s"), 20_000))
    ])
    expect(code).not.toBe(0)
    expect(code).not.toBe("still running after 20 s")
    expect(wrong.output).toContain("--log-store leveldb")

    const again = startNode(dataDir, peerPort, clientPort, ["--log-store", "leveldb"])
    expect(await get(endpoint, "k")).toBe("kept in LevelDB")
    again.child.kill("SIGTERM")
    await again.exited
  }, 90_000)
})
