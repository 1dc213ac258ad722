/**
 * TCP transport throughput between two processes: node 1 (this process) streams messages to node 2
 * (a child process), which acknowledges its running count back over its own outbound connection.
 * The sender keeps its outbound queue under the bound, so nothing is dropped and the figure is the
 * sustained delivery rate (encode, write, frame, decode, validate, enqueue).
 *
 * Run: `node bench/transport-tcp.ts` (Node 24). Prints one line per case and a JSON line.
 */
import { Effect, Queue } from "effect"
import { spawn } from "node:child_process"
import * as Net from "node:net"
import type { AppendEntries, Message } from "../src/core/types.ts"
import { makeTcp, type PeerAddress } from "../src/transport/tcp.ts"

const ACK_EVERY = 500
const MAX_QUEUED = 8192

const appendEntries = (entries: number, bytes: number, round: number): AppendEntries => ({
  _tag: "AppendEntries",
  term: 3,
  prevLogIndex: round * entries,
  prevLogTerm: 3,
  entries: Array.from({ length: entries }, () => ({
    term: 3,
    kind: "command" as const,
    data: new Uint8Array(bytes)
  })),
  leaderCommit: round,
  round
})

const peersFrom = (p1: number, p2: number) =>
  new Map<number, PeerAddress>([
    [1, { host: "127.0.0.1", port: p1 }],
    [2, { host: "127.0.0.1", port: p2 }]
  ])

/** Node 2: count what arrives, report the count to node 1 every ACK_EVERY messages. */
const receiver = (p1: number, p2: number) =>
  Effect.gen(function* () {
    const two = yield* makeTcp({
      clusterId: "bench",
      self: 2,
      peers: peersFrom(p1, p2),
      maxQueuedFrames: MAX_QUEUED
    })
    let count = 0
    while (true) {
      const batch = yield* Queue.takeAll(two.incoming)
      for (const e of batch) {
        if (e.message._tag === "TimeoutNow") {
          yield* two.send({ from: 2, to: 1, message: { _tag: "TimeoutNow", term: count } })
          continue
        }
        count++
        if (count % ACK_EVERY === 0)
          yield* two.send({ from: 2, to: 1, message: { _tag: "TimeoutNow", term: count } })
      }
    }
  }).pipe(Effect.scoped)

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = Net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0))
    })
  })

const sender = (p1: number, p2: number) =>
  Effect.gen(function* () {
    const one = yield* makeTcp({
      clusterId: "bench",
      self: 1,
      peers: peersFrom(p1, p2),
      maxQueuedFrames: MAX_QUEUED
    })
    let acked = 0
    const awaitAck = (target: number) =>
      Effect.gen(function* () {
        while (acked < target) {
          const e = yield* Queue.take(one.incoming)
          if (e.message._tag === "TimeoutNow") acked = Math.max(acked, e.message.term)
        }
      })
    // Wait until the child is up and both connections work.
    while (true) {
      yield* one.send({ from: 1, to: 2, message: { _tag: "TimeoutNow", term: 0 } })
      const got = yield* Queue.take(one.incoming).pipe(Effect.timeout("200 millis"), Effect.option)
      if (got._tag === "Some") break
    }
    const cases: Array<{ name: string; n: number; make: (i: number) => Message }> = [
      { name: "heartbeat", n: 200_000, make: (i) => appendEntries(0, 0, i) },
      { name: "append-64x128", n: 20_000, make: (i) => appendEntries(64, 128, i) }
    ]
    const results: Record<string, unknown> = {}
    let total = 0
    for (const c of cases) {
      const messages = Array.from({ length: 1000 }, (_, i) => c.make(i))
      const start = performance.now()
      for (let i = 0; i < c.n; i++) {
        if (i % 256 === 0) while ((yield* one.stats).queued > MAX_QUEUED / 2) yield* Effect.sleep(1)
        yield* one.send({ from: 1, to: 2, message: messages[i % messages.length]! })
      }
      total += c.n
      yield* awaitAck(total - (total % ACK_EVERY))
      const seconds = (performance.now() - start) / 1000
      const stats = yield* one.stats
      const rate = Math.round(c.n / seconds)
      console.log(
        `${c.name}: ${c.n} messages in ${seconds.toFixed(2)} s = ${rate} msg/s (dropped ${stats.rejected["queue-full"]})`
      )
      results[c.name] = { messages: c.n, seconds: Number(seconds.toFixed(3)), msgPerSec: rate }
    }
    console.log(JSON.stringify({ bench: "transport-tcp", node: process.version, results }))
  }).pipe(Effect.scoped)

if (process.argv[2] === "receiver") {
  process.on("SIGTERM", () => process.exit(0))
  Effect.runFork(receiver(Number(process.argv[3]), Number(process.argv[4])))
} else {
  const p1 = await freePort()
  const p2 = await freePort()
  const child = spawn(process.execPath, [process.argv[1]!, "receiver", String(p1), String(p2)], {
    stdio: "inherit"
  })
  try {
    await Effect.runPromise(sender(p1, p2))
  } finally {
    child.kill()
  }
}
