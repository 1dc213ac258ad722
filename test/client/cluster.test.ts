/**
 * The SDK and the client CLI against a real cluster: 3 node processes started by
 * `raftkv cluster` (one cluster for the whole file), over real TCP.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type KvConnection, type NodeReport, VersionMismatch } from "../../src/client/index.ts"

const main = join(import.meta.dirname, "../../src/cli/main.ts")

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** A base port whose 9 cluster ports are free, below the ephemeral range (32768+). */
const pickBasePort = async (): Promise<number> => {
  for (let tries = 0; tries < 50; tries++) {
    const base = 10_000 + Math.floor(Math.random() * 90) * 100
    const ports = [1, 2, 3].flatMap((i) => [base + i, base + 100 + i, base + 200 + i])
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base
  }
  throw new Error("no free base port found")
}

interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `raftkv ...args` to completion. */
const cli = (...args: string[]) =>
  new Promise<CliResult>((resolve) => {
    execFile(process.execPath, [main, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })

let dataDir: string
let cluster: ChildProcess
let endpoints: string[]
let kv: KvConnection

const statusOf = (reports: ReadonlyArray<NodeReport>) =>
  reports.flatMap((r) => ("status" in r ? [{ endpoint: r.endpoint, ...r.status }] : []))

/** Polls Status until all 3 nodes answer and agree on a leader (bounded; no bare sleeps). */
const waitForLeader = async (client: KvConnection, deadlineMs: number) => {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    if (cluster.exitCode !== null) throw new Error(`raftkv cluster exited with ${cluster.exitCode}`)
    const up = statusOf(await client.clusterStatus({ timeoutMs: 500 }))
    const leaders = up.filter((s) => s.role === "leader")
    if (up.length === 3 && leaders.length === 1 && up.every((s) => s.leader === leaders[0]!.id)) {
      return { leader: leaders[0]!, followers: up.filter((s) => s.role !== "leader") }
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no leader within ${deadlineMs} ms`)
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "raftkv-client-"))
  const base = await pickBasePort()
  endpoints = [1, 2, 3].map((i) => `127.0.0.1:${base + 100 + i}`)
  cluster = spawn(process.execPath, [main, "cluster", "--data-dir", dataDir, "--base-port", String(base)], {
    stdio: "ignore"
  })
  kv = await connect({ endpoints, timeoutMs: 10_000 })
  await waitForLeader(kv, 25_000)
}, 40_000)

afterAll(async () => {
  await kv?.close()
  if (cluster !== undefined && cluster.exitCode === null) {
    const exited = new Promise((r) => cluster.once("exit", r))
    cluster.kill("SIGINT")
    const killer = setTimeout(() => cluster.kill("SIGKILL"), 10_000)
    await exited
    clearTimeout(killer)
  }
  rmSync(dataDir, { recursive: true, force: true })
}, 20_000)

describe("SDK against a 3-node cluster", () => {
  it("puts, gets and deletes, with versions", async () => {
    expect(await kv.put("sdk/a", "one")).toEqual({ version: 1 })
    expect(await kv.put("sdk/a", new TextEncoder().encode("two"))).toEqual({ version: 2 })
    expect(await kv.getString("sdk/a")).toEqual({ value: "two", version: 2 })
    const bytes = await kv.get("sdk/a")
    expect(bytes && new TextDecoder().decode(bytes.value)).toBe("two")
    expect(await kv.delete("sdk/a")).toEqual({ deleted: true })
    expect(await kv.delete("sdk/a")).toEqual({ deleted: false })
    expect(await kv.get("sdk/a")).toBeNull()
  })

  it("refuses a conditional put on another version and names the current one", async () => {
    expect(await kv.put("sdk/cas", "v", { expectedVersion: 0 })).toEqual({ version: 1 })
    const error = await kv.put("sdk/cas", "w", { expectedVersion: 0 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VersionMismatch)
    expect(error).toMatchObject({ currentVersion: 1 })
    expect(await kv.put("sdk/cas", "w", { expectedVersion: 1 })).toEqual({ version: 2 })
    expect(await kv.getString("sdk/cas")).toEqual({ value: "w", version: 2 })
  })

  it("finds the leader when given only a follower's endpoint", async () => {
    const { leader, followers } = await waitForLeader(kv, 10_000)
    const follower = followers[0]!.endpoint
    const only = await connect({ endpoints: [follower] })
    try {
      expect(await only.put("sdk/follow", "x")).toEqual({ version: 1 })
      expect(only.leader()).toBe(leader.endpoint)
      expect(await only.getString("sdk/follow")).toEqual({ value: "x", version: 1 })
    } finally {
      await only.close()
    }
  })

  it("serves a stale read from the follower it is given, which soon shows the write", async () => {
    const { followers } = await waitForLeader(kv, 10_000)
    const follower = followers[0]!.endpoint
    await kv.put("sdk/stale", "s")
    const reader = await connect({ endpoints: [follower] })
    try {
      const until = Date.now() + 10_000
      let read = await reader.read("sdk/stale", { consistency: "stale" })
      while (read.entry === null && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20))
        read = await reader.read("sdk/stale", { consistency: "stale" })
      }
      expect(read.endpoint).toBe(follower)
      expect(read.entry?.version).toBe(1)
      expect(read.appliedIndex).toBeLessThanOrEqual(read.commitIndex)
    } finally {
      await reader.close()
    }
  })
})

/** Each CLI run is a fresh process (about 1-3 s to start on a loaded 2-core machine). */
const CLI_TEST_TIMEOUT = 90_000

describe("CLI against a 3-node cluster", () => {
  it(
    "put --json prints the new version and get --json the value",
    async () => {
      const put = await cli("put", "cli/k", "hello world", "--endpoints", endpoints.join(","), "--json")
      expect(put).toMatchObject({ code: 0 })
      expect(JSON.parse(put.stdout)).toEqual({ version: 1 })
      const get = await cli("get", "cli/k", "--endpoints", endpoints.join(","), "--json")
      expect(get).toMatchObject({ code: 0 })
      expect(JSON.parse(get.stdout)).toEqual({ value: "hello world", version: 1 })
    },
    CLI_TEST_TIMEOUT
  )

  it(
    "delete --json prints whether it deleted; get --json of an absent key prints null",
    async () => {
      await kv.put("cli/d", "x")
      const [del, absent] = await Promise.all([
        cli("delete", "cli/d", "--endpoints", endpoints.join(","), "--json"),
        cli("get", "cli/never-written", "--endpoints", endpoints.join(","), "--json")
      ])
      expect(del).toMatchObject({ code: 0 })
      expect(JSON.parse(del.stdout)).toEqual({ deleted: true })
      expect(await kv.get("cli/d")).toBeNull()
      expect(absent).toMatchObject({ code: 0 })
      expect(JSON.parse(absent.stdout)).toBeNull()
    },
    CLI_TEST_TIMEOUT
  )

  it(
    "exits 3 on a version mismatch, naming the current version",
    async () => {
      await kv.put("cli/cas", "a")
      await kv.put("cli/cas", "b")
      const e = ["--endpoints", endpoints.join(",")]
      const [json, human] = await Promise.all([
        cli("put", "cli/cas", "c", "--expected-version", "1", ...e, "--json"),
        cli("put", "cli/cas", "c", "--expected-version", "1", ...e)
      ])
      expect(json.code).toBe(3)
      expect(JSON.parse(json.stdout)).toEqual({ error: "VersionMismatch", currentVersion: 2 })
      expect(human.code).toBe(3)
      expect(human.stderr).toMatch(/current version is 2/)
    },
    CLI_TEST_TIMEOUT
  )

  it(
    "status --json reports every node and an unreachable endpoint",
    async () => {
      const dead = `127.0.0.1:${(await pickBasePort()) + 1}`
      // (The SDK tests bound the time spent on a dead node; here process start dominates.)
      const r = await cli("status", "--endpoints", [...endpoints, dead].join(","), "--json")
      expect(r.code).toBe(0)
      const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>
      expect(rows).toHaveLength(4)
      const nodes = rows.slice(0, 3)
      for (const n of nodes) {
        expect(Object.keys(n).sort()).toEqual(
          ["appliedIndex", "commitIndex", "endpoint", "id", "leader", "role", "term"].sort()
        )
      }
      expect(nodes.map((n) => n.id).sort()).toEqual([1, 2, 3])
      const leaders = nodes.filter((n) => n.role === "leader")
      expect(leaders).toHaveLength(1)
      expect(nodes.every((n) => n.leader === leaders[0]!.id)).toBe(true)
      expect(rows[3]).toMatchObject({ endpoint: dead, error: expect.stringMatching(/connect/) })
    },
    CLI_TEST_TIMEOUT
  )
})
