/**
 * TCP-specific behaviour: refusing other clusters, oversized and malformed input, a fuzz run of
 * hostile connections, drop-oldest queues, port conflicts.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Queue, Result, Scope } from "effect"
import fc from "fast-check"
import * as Net from "node:net"
import { describe } from "vitest"
import type { AppendEntries, Envelope, Message, NodeId } from "../../src/core/types.ts"
import { encodeFrame, writeLengthPrefix } from "../../src/transport/codec.ts"
import type { WireFrame } from "../../src/transport/schema.ts"
import { makeCounters } from "../../src/transport/stats.ts"
import { listen, makeTcp, type PeerAddress, type TcpTransportOptions } from "../../src/transport/tcp.ts"
import { serveConnection } from "../../src/transport/tcp-inbound.ts"
import { attack, attackBytes } from "./attacks.ts"
import { captureLogs, collect, eventually, freePort, numbered, rawConnect } from "./helpers.ts"

const CLUSTER = "tcp-test"

const peersOf = (ids: ReadonlyArray<NodeId>) =>
  Effect.gen(function* () {
    const peers = new Map<NodeId, PeerAddress>()
    for (const id of ids) peers.set(id, { host: "127.0.0.1", port: yield* freePort })
    return peers
  })

const start = (
  self: NodeId,
  peers: ReadonlyMap<NodeId, PeerAddress>,
  extra: Partial<TcpTransportOptions> = {}
) => makeTcp({ clusterId: CLUSTER, self, peers, reconnect: { min: 20, max: 200 }, ...extra })

const frameBytes = (frame: WireFrame): Uint8Array => {
  const r = encodeFrame(frame)
  if (Result.isFailure(r)) throw new Error(r.failure.detail)
  return r.success
}

const ping = (term: number): Message => ({ _tag: "TimeoutNow", term })

/** Runs `body` with logs captured (and kept off the console); hands the lines to `body`. */
const withLogs = <A, E, R>(body: (lines: ReadonlyArray<string>) => Effect.Effect<A, E, R>) => {
  const { lines, layer } = captureLogs()
  return Effect.provide(body(lines), layer)
}

describe("TCP transport: hostile and misdirected input", () => {
  it.live("a frame of another cluster closes the connection; it is counted and logged", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers)
        const raw = yield* rawConnect(one.address.port)
        yield* raw.write(frameBytes({ clusterId: "another", from: 2, to: 1, message: ping(1) }))
        assert.isTrue(yield* raw.closedWithin(5000))
        const stats = yield* one.stats
        assert.strictEqual(stats.rejected["wrong-cluster"], 1)
        assert.strictEqual(stats.received, 0)
        assert.strictEqual(yield* Queue.size(one.incoming), 0)
        assert.isTrue(logs.some((l) => l.startsWith("Warn") && l.includes("wrong-cluster")))
      })
    )
  )

  it.live("a real node configured with another cluster id is refused and counted", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers)
        const stranger = yield* makeTcp({
          clusterId: "another",
          self: 2,
          peers,
          reconnect: { min: 20, max: 100 }
        })
        yield* stranger.send({ from: 2, to: 1, message: ping(1) })
        yield* eventually(
          Effect.map(one.stats, (s) => s.rejected["wrong-cluster"] >= 1),
          "the foreign frame to be refused"
        )
        assert.strictEqual(yield* Queue.size(one.incoming), 0)
      })
    )
  )

  it.live("an oversized length prefix closes the connection before any body is read", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers, { maxFrameBytes: 1024 })
        const raw = yield* rawConnect(one.address.port)
        const prefix = new Uint8Array(4)
        writeLengthPrefix(prefix, 1025)
        yield* raw.write(prefix)
        assert.isTrue(yield* raw.closedWithin(5000))
        assert.strictEqual((yield* one.stats).rejected.oversized, 1)
        assert.isTrue(logs.some((l) => l.includes("oversized") && l.includes("1025")))
      })
    )
  )

  it.live("an undecodable body closes the connection and is counted as malformed", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers)
        const raw = yield* rawConnect(one.address.port)
        yield* raw.write(Uint8Array.of(0, 0, 0, 6, 1, 0xde, 0xad, 0xbe, 0xef, 0x00))
        assert.isTrue(yield* raw.closedWithin(5000))
        assert.strictEqual((yield* one.stats).rejected.malformed, 1)
      })
    )
  )

  it.live("frames for another node or from a non-peer are dropped; the connection stays open", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2, 3])
        const one = yield* start(1, peers)
        const raw = yield* rawConnect(one.address.port)
        yield* raw.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 3, message: ping(1) }))
        yield* raw.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 1, message: ping(2) }))
        const got = yield* collect(one.incoming, 1)
        assert.deepStrictEqual(got, [{ from: 2, to: 1, message: ping(2) }])
        assert.isFalse(yield* raw.closedWithin(50))

        const stranger = yield* rawConnect(one.address.port)
        yield* stranger.write(frameBytes({ clusterId: CLUSTER, from: 42, to: 1, message: ping(3) }))
        yield* eventually(
          Effect.map(one.stats, (s) => s.rejected["unknown-sender"] === 1),
          "the frame from node 42 to be dropped"
        )
        const stats = yield* one.stats
        assert.strictEqual(stats.rejected["wrong-recipient"], 1)
        assert.strictEqual(stats.received, 1)
        assert.strictEqual(yield* Queue.size(one.incoming), 0)
      })
    )
  )

  it.live("connections beyond the limit are closed on arrival", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers, { maxInboundConnections: 2 })
        const a = yield* rawConnect(one.address.port)
        const b = yield* rawConnect(one.address.port)
        assert.isFalse(yield* a.closedWithin(50))
        const c = yield* rawConnect(one.address.port)
        assert.isTrue(yield* c.closedWithin(5000))
        assert.isTrue(logs.some((l) => l.includes("2 already open")))
        yield* a.destroy
        // Once a slot is free, a new connection is served again (eventually: the close must land).
        yield* eventually(
          Effect.gen(function* () {
            const d = yield* Effect.orDie(rawConnect(one.address.port))
            const closed = yield* d.closedWithin(100)
            if (closed) return false
            yield* d.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 1, message: ping(9) }))
            return true
          }),
          "a free connection slot"
        )
        assert.deepStrictEqual(yield* collect(one.incoming, 1), [{ from: 2, to: 1, message: ping(9) }])
        assert.isFalse(yield* b.closedWithin(10))
      })
    )
  )

  it.live("a connection whose sender changes is closed", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2, 3])
        const one = yield* start(1, peers)
        const raw = yield* rawConnect(one.address.port)
        yield* raw.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 1, message: ping(1) }))
        yield* raw.write(frameBytes({ clusterId: CLUSTER, from: 3, to: 1, message: ping(2) }))
        assert.isTrue(yield* raw.closedWithin(5000))
        assert.deepStrictEqual(yield* collect(one.incoming, 1), [{ from: 2, to: 1, message: ping(1) }])
        assert.strictEqual((yield* one.stats).rejected.malformed, 1)
      })
    )
  )
})

describe("TCP transport: fuzz", () => {
  it.live(
    "survives hundreds of random and mutated frames, then still delivers a proper peer's messages",
    () =>
      withLogs(() =>
        Effect.gen(function* () {
          const peers = yield* peersOf([1, 2, 3])
          const one = yield* start(1, peers, { maxFrameBytes: 64 * 1024 })
          const attacks = fc.sample(attack(CLUSTER), { numRuns: 400, seed: 20261126 })
          yield* Effect.forEach(
            attacks,
            (a) =>
              Effect.gen(function* () {
                const raw = yield* rawConnect(one.address.port)
                yield* raw.write(attackBytes(a))
                // Hang up politely (FIN, not RST, which would discard unread bytes), so the node
                // reads every attack in full; it must then close the connection.
                yield* raw.end
                const closed = yield* raw.closedWithin(10_000)
                yield* raw.destroy
                assert.isTrue(closed)
              }),
            { concurrency: 16, discard: true }
          )
          const stats = yield* one.stats
          const refused =
            stats.rejected.malformed + stats.rejected.oversized + stats.rejected["wrong-cluster"]
          assert.isAtLeast(refused, 250) // most attacks must have been caught at the boundary
          // Whatever slipped through was valid (and is discarded here).
          yield* Queue.clear(one.incoming)

          const two = yield* start(2, peers)
          const marker = 987_654_321
          for (let i = 0; i < 50; i++) {
            yield* two.send({ from: 2, to: 1, message: { ...numbered(2, i), term: marker } })
          }
          const got = yield* collect(one.incoming, 50)
          assert.deepStrictEqual(
            got.map((e) => [e.from, (e.message as AppendEntries).term, (e.message as AppendEntries).round]),
            Array.from({ length: 50 }, (_, i) => [2, marker, i])
          )
        })
      ),
    60_000
  )
})

describe("TCP transport: queues and connections", () => {
  it.live("a down peer's queue keeps only the newest frames, delivered in order once it is up", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers, { maxQueuedFrames: 16 })
        for (let i = 0; i < 100; i++) yield* one.send({ from: 1, to: 2, message: numbered(1, i) })
        const before = yield* one.stats
        assert.strictEqual(before.queued, 16)
        assert.strictEqual(before.rejected["queue-full"], 84)
        const two = yield* start(2, peers)
        const got = yield* collect(two.incoming, 16)
        assert.deepStrictEqual(
          got.map((e) => (e.message as AppendEntries).round),
          Array.from({ length: 16 }, (_, i) => 84 + i)
        )
        yield* eventually(
          Effect.map(one.stats, (s) => s.sent === 16 && s.queued === 0),
          "the queue to be flushed"
        )
      })
    )
  )

  it.live("a full inbox holds the sender back: nothing is lost or reordered, the inbox stays bounded", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers, { maxQueuedFrames: 1000 })
        const two = yield* start(2, peers, { maxIncomingFrames: 4 })
        // ~1.4 KB frames: ~400 KB in all, more than one read and more than the inbox holds.
        for (let i = 0; i < 300; i++) yield* one.send({ from: 1, to: 2, message: numbered(1, i, 30) })
        // Nobody takes from the inbox yet: it fills up, and what does not fit waits.
        yield* eventually(
          Effect.map(Queue.size(two.incoming), (n) => n === 4),
          "the inbox to fill up"
        )
        assert.strictEqual((yield* two.stats).received, 4)
        const got = yield* collect(two.incoming, 300)
        assert.deepStrictEqual(
          got.map((e) => (e.message as AppendEntries).round),
          Array.from({ length: 300 }, (_, i) => i)
        )
        assert.deepStrictEqual(got[123]!.message, numbered(1, 123, 30))
        assert.strictEqual((yield* two.stats).received, 300)
        assert.strictEqual((yield* one.stats).rejected["queue-full"], 0)
      })
    )
  )

  it.live("a down peer's queue is also bounded in bytes", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const one = yield* start(1, peers, { maxQueuedBytes: 35_000 })
        const chunk = (i: number): Message => ({
          _tag: "InstallSnapshot",
          term: 1,
          snapshot: { index: 100, term: 1, size: 100_000 },
          offset: i * 10_000,
          data: new Uint8Array(10_000).fill(i),
          done: false
        })
        for (let i = 0; i < 10; i++) yield* one.send({ from: 1, to: 2, message: chunk(i) })
        const before = yield* one.stats
        assert.strictEqual(before.queued, 3)
        assert.isAtMost(before.queuedBytes, 35_000)
        assert.strictEqual(before.rejected["queue-full"], 7)
        const two = yield* start(2, peers)
        const got = yield* collect(two.incoming, 3)
        assert.deepStrictEqual(
          got.map((e) => (e.message as { offset: number }).offset),
          [70_000, 80_000, 90_000]
        )
        yield* eventually(
          Effect.map(one.stats, (s) => s.queued === 0 && s.queuedBytes === 0),
          "the queue to be flushed"
        )
      })
    )
  )

  it.live("an outbound message too big for a frame is dropped and counted; the stream goes on", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        const options = { maxFrameBytes: 4096 }
        const one = yield* start(1, peers, options)
        const two = yield* start(2, peers, options)
        const big: Message = {
          _tag: "InstallSnapshot",
          term: 1,
          snapshot: { index: 9, term: 1, size: 8192 },
          offset: 0,
          data: new Uint8Array(8192),
          done: true
        }
        yield* one.send({ from: 1, to: 2, message: ping(1) })
        yield* one.send({ from: 1, to: 2, message: big })
        yield* one.send({ from: 1, to: 2, message: ping(2) })
        const got = yield* collect(two.incoming, 2)
        assert.deepStrictEqual(
          got.map((e) => e.message),
          [ping(1), ping(2)]
        )
        const stats = yield* one.stats
        assert.strictEqual(stats.rejected.oversized, 1)
        assert.strictEqual(stats.sent, 2)
        assert.isTrue(logs.some((l) => l.includes("unencodable") && l.includes("4096")))
      })
    )
  )

  it.live("a peer that writes on our outbound connection is hung up on and redialed", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        let accepted = 0
        // A fake node 2 that talks back on connections it accepts (it must not).
        const fake = Net.createServer((conn) => {
          accepted++
          conn.on("error", () => {})
          conn.write("unexpected")
        })
        yield* Effect.acquireRelease(
          Effect.callback<void>((resume) => {
            fake.listen(peers.get(2)!.port, "127.0.0.1", () => resume(Effect.void))
          }),
          () => Effect.callback<void>((resume) => void fake.close(() => resume(Effect.void)))
        )
        const one = yield* start(1, peers)
        yield* eventually(
          Effect.map(one.stats, (s) => s.connects >= 3),
          "node 1 to redial after hanging up"
        )
        assert.isAtLeast(accepted, 3)
        assert.isTrue(logs.some((l) => l.includes("wrote on our outbound connection")))
      })
    )
  )
})

describe("TCP transport: construction errors", () => {
  it.live("a port in use fails with AddressInUse naming the address", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const peers = yield* peersOf([1, 2])
        yield* start(1, peers)
        const scope = yield* Scope.make()
        const exit = yield* Effect.exit(Scope.provide(start(1, peers), scope))
        yield* Scope.close(scope, Exit.void)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = exit.cause.reasons.find((r) => r._tag === "Fail")
          assert.deepInclude(error, { _tag: "Fail" })
          const e = (error as { error: { _tag: string; host: string; port: number; message: string } }).error
          assert.strictEqual(e._tag, "AddressInUse")
          assert.strictEqual(e.host, "127.0.0.1")
          assert.strictEqual(e.port, peers.get(1)!.port)
          assert.include(e.message, `127.0.0.1:${peers.get(1)!.port}`)
        }
      })
    )
  )

  it.live("a node missing from its own peers map is a configuration error", () =>
    Effect.gen(function* () {
      const peers = yield* peersOf([2, 3])
      const error = yield* Effect.flip(start(1, peers))
      assert.strictEqual(error._tag, "InvalidTransportConfig")
    })
  )

  it.live("a cluster id or node id the wire cannot carry is a configuration error", () =>
    Effect.gen(function* () {
      const peers = yield* peersOf([1, 2])
      const long = yield* Effect.flip(makeTcp({ clusterId: "x".repeat(256), self: 1, peers }))
      assert.strictEqual(long._tag, "InvalidTransportConfig")
      const zero = new Map([...peers, [0, { host: "127.0.0.1", port: 1 }]])
      const badId = yield* Effect.flip(makeTcp({ clusterId: CLUSTER, self: 1, peers: zero }))
      assert.strictEqual(badId._tag, "InvalidTransportConfig")
    })
  )

  it.live("port 0 listens on a port chosen by the OS and reports it", () =>
    Effect.gen(function* () {
      const peers = new Map([[1, { host: "127.0.0.1", port: 0 }]])
      const one = yield* start(1, peers)
      assert.isAbove(one.address.port, 0)
      const raw = yield* rawConnect(one.address.port)
      yield* raw.destroy
    })
  )
})

describe("TCP transport: a bug in the read path", () => {
  it.live("ends only the connection: the node stays up and says why", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = yield* listen({ host: "127.0.0.1", port: 0 })
        const incoming = yield* Queue.bounded<Envelope>(16)
        // Frozen counters make the handler throw on its first delivery, as a bug would.
        const counters = Object.freeze(makeCounters())
        yield* Effect.forkScoped(
          server.run(
            serveConnection({
              clusterId: CLUSTER,
              self: 1,
              senders: new Set([2]),
              maxFrameBytes: 1 << 20,
              maxConnections: 4,
              incoming,
              counters
            })
          )
        )
        const port = (server.address as { readonly port: number }).port
        const raw = yield* rawConnect(port)
        yield* raw.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 1, message: ping(1) }))
        assert.isTrue(yield* raw.closedWithin(5000))
        assert.isTrue(logs.some((l) => l.startsWith("Error") && l.includes("closing inbound connection")))
        // Still serving: a second connection is accepted and read.
        const again = yield* rawConnect(port)
        yield* again.write(frameBytes({ clusterId: CLUSTER, from: 2, to: 1, message: ping(2) }))
        assert.isTrue(yield* again.closedWithin(5000))
      })
    )
  )
})
