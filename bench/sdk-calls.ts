/**
 * CPU cost of the client SDK per call: closed-loop clients on the Promise API (as the load bench
 * runs them) against a fake node (test/client/fake-node.ts) in a child process, so this
 * process's CPU (process.cpuUsage) is the SDK's alone: our code, the Effect runtime, the wire
 * codec and the socket.
 *
 * `effect put` is the Effect API's put run with `Effect.runPromiseExit`. For reference it also
 * measures `raw`: the same calls straight on the SDK's connection (src/client/connections.ts,
 * one `Effect.runPromiseExit` per call) - the floor the SDK's own layers
 * (guard, deadline, retries, sessions) add to.
 *
 * Usage: node bench/sdk-calls.ts [--clients 20] [--ops 20000] [--rounds 7] [--only "sdk put"]
 * Prints a line per round, the medians in microseconds of CPU per call, and the SDK's own part
 * (the median over rounds of sdk minus raw).
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { Effect, Exit, Scope } from "effect"
import { type KvConnection, connect } from "../src/client/index.ts"
import { makePool } from "../src/client/connections.ts"
import { FakeStore, startFakeNode } from "../test/client/fake-node.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback
}

/** Child mode: a fake leader node until stdin closes. */
const serve = async (): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  const node = await Effect.runPromise(startFakeNode(1, new FakeStore()).pipe(Scope.provide(scope)))
  process.stdout.write(`${node.endpoint}\n`)
  process.stdin.resume()
  process.stdin.on("end", () => {
    void Effect.runPromise(Scope.close(scope, Exit.void)).then(() => process.exit(0))
  })
}

const startServer = async () => {
  const child = spawn(process.execPath, [import.meta.filename, "--serve"], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const lines = createInterface({ input: child.stdout })
  const endpoint = await new Promise<string>((resolve) => lines.once("line", resolve))
  return { endpoint, stop: () => child.stdin.end() }
}

type Call = (client: number, i: number) => Promise<unknown>

/** Runs `ops` calls over `clients` closed loops; CPU microseconds per call. */
const measure = async (clients: number, ops: number, call: Call): Promise<number> => {
  let next = 0
  const loop = async (c: number) => {
    while (next < ops) await call(c, next++)
  }
  const before = process.cpuUsage()
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)))
  const used = process.cpuUsage(before)
  return (used.user + used.system) / ops
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const main = async (): Promise<void> => {
  const clients = option("clients", 20)
  const ops = option("ops", 20000)
  const rounds = option("rounds", 7)
  const server = await startServer()
  const value = new Uint8Array(128).fill(97)
  const key = (i: number) => `key-${i % 10000}`

  const sdk: KvConnection[] = []
  for (let c = 0; c < clients; c++) sdk.push(await connect({ endpoints: [server.endpoint] }))

  // raw: one bare connection per loop, like the SDK's one connection per client.
  const scope = Effect.runSync(Scope.make())
  const raw = await Effect.runPromise(
    Effect.forEach(Array.from({ length: clients }), () =>
      makePool({ connectTimeoutMs: 1000, keepAliveMs: 5000 }).pipe(
        Effect.flatMap((pool) => pool.get(server.endpoint))
      )
    ).pipe(Scope.provide(scope))
  )
  const session = await Effect.runPromise(raw[0]!.OpenSession())
  let seq = 0
  const encoder = new TextEncoder()

  const cases: ReadonlyArray<readonly [string, Call]> = [
    ["sdk put", (c, i) => sdk[c]!.put(key(i), value)],
    ["sdk get", (c, i) => sdk[c]!.get(key(i))],
    // The Effect API, run from a Promise (one more fiber per call than the facade).
    ["effect put", (c, i) => Effect.runPromiseExit(sdk[c]!.client.put(key(i), value))],
    [
      "raw put",
      (c, i) => {
        const s = ++seq
        return Effect.runPromiseExit(
          raw[c]!.Put({ session: session.session, seq: s, ack: s - 1, key: encoder.encode(key(i)), value })
        )
      }
    ],
    [
      "raw get",
      (c, i) =>
        Effect.runPromiseExit(raw[c]!.Get({ key: encoder.encode(key(i)), consistency: "linearizable" }))
    ]
  ]
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined
  const chosen = cases.filter(([name]) => only === undefined || name.includes(only))
  const results = new Map<string, number[]>(chosen.map(([name]) => [name, []]))
  for (const [, call] of chosen) await measure(clients, Math.min(ops, 5000), call) // warm-up
  for (let r = 0; r < rounds; r++) {
    const line: string[] = []
    for (const [name, call] of chosen) {
      const us = await measure(clients, ops, call)
      results.get(name)!.push(us)
      line.push(`${name} ${us.toFixed(1)}`)
    }
    console.log(`round ${r + 1}: ${line.join("  ")} (us CPU/call)`)
  }
  const summary = Object.fromEntries([...results].map(([name, xs]) => [name, Number(median(xs).toFixed(1))]))
  // The SDK's own part: sdk minus raw in the same round (cancels some of a busy machine's noise).
  const own = (op: string) => {
    const sdkRuns = results.get(`sdk ${op}`)
    const rawRuns = results.get(`raw ${op}`)
    if (sdkRuns === undefined || rawRuns === undefined) return undefined
    return Number(median(sdkRuns.map((x, r) => x - rawRuns[r]!)).toFixed(1))
  }
  const sdkOwn = { put: own("put"), get: own("get") }
  console.log(JSON.stringify({ clients, ops, rounds, medianUsPerCall: summary, sdkOwnUsPerCall: sdkOwn }))

  for (const kv of sdk) await kv.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  server.stop()
}

if (args.includes("--serve")) void serve()
else void main()
