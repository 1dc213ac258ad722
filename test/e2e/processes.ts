/**
 * Real node processes for end-to-end tests: `raftkv node` children with their own data dirs,
 * optionally wired through fault-injecting TCP proxies, killed with SIGKILL or stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { createServer } from "node:net"
import { type LinkProxy, startProxy } from "./proxy.ts"

const main = join(import.meta.dirname, "../../src/cli/main.ts")

export interface ClusterSpec {
  readonly nodes: number
  /** Route every peer connection through a proxy (so tests can cut links). */
  readonly proxied?: boolean
  readonly extraArgs?: ReadonlyArray<string>
}

/** Election timeouts of test clusters: short, yet safe on a loaded 2-core machine. */
export const ELECTION_TIMEOUT_MS = [600, 1200] as const

/**
 * Ports for test nodes come from outside Linux's ephemeral range (32768-60999), in a block of its
 * own per vitest worker, and are never handed out twice by one worker. Why: a killed node's port
 * must still be free when the node restarts. A port from `listen(0)` is an ephemeral one, which
 * any process may take meanwhile - as the source port of an outgoing connection, or as another
 * test's `listen(0)` - and the restart then fails with "address already in use".
 */
const PORT_BLOCK = 1000
const PORT_BASE = 20_000
const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) % 12
let nextPort = PORT_BASE + worker * PORT_BLOCK

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** A port no other test of this run uses, free right now (checked by listening on it). */
export const freePort = async (): Promise<number> => {
  for (let tries = 0; tries < PORT_BLOCK; tries++) {
    const port = nextPort
    nextPort = port + 1 < PORT_BASE + (worker + 1) * PORT_BLOCK ? port + 1 : PORT_BASE + worker * PORT_BLOCK
    if (await canListen(port)) return port
  }
  throw new Error(`no free port in this worker's block of ${PORT_BLOCK}`)
}

export class ProcessCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "raftkv-e2e-"))
  /** One per cluster (the temp dir's unique name): two test runs on one machine share port
   * numbers, and a node restarted on a port the other run's cluster uses must not join it. */
  readonly clusterId = basename(this.dir)
  readonly ids: number[]
  readonly peerPort = new Map<number, number>()
  readonly clientPort = new Map<number, number>()
  /** proxies.get(`${from}>${to}`): the proxy `from` dials to reach `to`. */
  readonly proxies = new Map<string, LinkProxy>()
  readonly children = new Map<number, ChildProcess>()

  readonly spec: ClusterSpec

  private constructor(spec: ClusterSpec) {
    this.spec = spec
    this.ids = Array.from({ length: spec.nodes }, (_, k) => k + 1)
  }

  static async start(spec: ClusterSpec): Promise<ProcessCluster> {
    const c = new ProcessCluster(spec)
    for (const id of c.ids) {
      c.peerPort.set(id, await freePort())
      c.clientPort.set(id, await freePort())
    }
    if (spec.proxied) {
      for (const from of c.ids) {
        for (const to of c.ids) {
          if (from === to) continue
          c.proxies.set(`${from}>${to}`, await startProxy(await freePort(), c.peerPort.get(to)!))
        }
      }
    }
    for (const id of c.ids) c.spawn(id)
    return c
  }

  endpoint(id: number): string {
    return `127.0.0.1:${this.clientPort.get(id)}`
  }

  get endpoints(): string[] {
    return this.ids.map((id) => this.endpoint(id))
  }

  logPath(id: number): string {
    return join(this.dir, `n${id}.log`)
  }

  log(id: number): string {
    return readFileSync(this.logPath(id), "utf8")
  }

  private peersOf(id: number): string {
    return this.ids
      .map((p) => {
        if (p === id || !this.spec.proxied) return `${p}=127.0.0.1:${this.peerPort.get(p)}`
        return `${p}=127.0.0.1:${this.proxies.get(`${id}>${p}`)!.port}`
      })
      .join(",")
  }

  spawn(id: number): void {
    const clients = this.ids.map((p) => `${p}=${this.endpoint(p)}`).join(",")
    const args = [
      main,
      "node",
      "--id",
      String(id),
      "--peers",
      this.peersOf(id),
      "--cluster-id",
      this.clusterId,
      "--client",
      this.endpoint(id),
      "--client-addresses",
      clients,
      "--data-dir",
      join(this.dir, `n${id}`),
      "--election-timeout-min",
      String(ELECTION_TIMEOUT_MS[0]),
      "--election-timeout-max",
      String(ELECTION_TIMEOUT_MS[1]),
      "--heartbeat-interval",
      "100",
      ...(this.spec.extraArgs ?? [])
    ]
    writeFileSync(this.logPath(id), "", { flag: "a" })
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
    const append = (chunk: Buffer) => appendFileSync(this.logPath(id), chunk)
    child.stdout!.on("data", append)
    child.stderr!.on("data", append)
    this.children.set(id, child)
  }

  /** Kill a node at once (SIGKILL: no flush, no goodbye) and wait until it is gone. */
  kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.children.get(id)
    this.children.delete(id)
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    return new Promise((done) => {
      child.once("exit", () => done())
      child.kill(signal)
    })
  }

  /** Cut (or restore) every link to and from `id`. */
  isolate(id: number, cut: boolean): void {
    for (const [key, proxy] of this.proxies) {
      const [from, to] = key.split(">").map(Number)
      if (from === id || to === id) proxy.setBlocked(cut)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.kill(id, "SIGKILL")))
    for (const p of this.proxies.values()) await p.close()
    // RAFTKV_KEEP_E2E=1 keeps data dirs and logs for a post-mortem.
    if (process.env.RAFTKV_KEEP_E2E === "1") console.log(`e2e data kept in ${this.dir}`)
    else rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Poll `check` until it returns a value (not undefined), for at most `ms` of real time. */
export const eventually = async <A>(
  what: string,
  ms: number,
  check: () => Promise<A | undefined>
): Promise<A> => {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(
    `timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`
  )
}
