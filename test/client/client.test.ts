/**
 * The client's retry and leader-following logic against fake nodes: the real client-port server
 * over real TCP on 127.0.0.1 with scripted handlers (test/client/fake-node.ts).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import {
  Busy,
  ClientClosed,
  connect,
  InvalidClientOptions,
  KvClient,
  type KvClientOptions,
  LeadershipLost,
  layer,
  make,
  NodeUnreachable,
  OutcomeUnknown,
  SessionExpired,
  Timeout,
  VersionMismatch
} from "../../src/client/index.ts"
import { type FakeNode, FakeStore, follower, leaderHandlers, startFakeNode } from "./fake-node.ts"

/** Fast retries so the tests do not wait on backoff. */
const options = (
  endpoints: ReadonlyArray<string>,
  extra: Partial<KvClientOptions> = {}
): KvClientOptions => ({
  endpoints,
  timeoutMs: 3000,
  retry: { baseDelayMs: 2, maxDelayMs: 20 },
  ...extra
})

const puts = (node: FakeNode) => node.calls.filter((c) => c.rpc === "Put").map((c) => c.payload)
const count = (node: FakeNode, rpc: string) => node.calls.filter((c) => c.rpc === rpc).length

/** A handler failing its first `n` calls with `error`, then behaving as `then`. */
const failFirst = <P>(
  n: number,
  error: (payload: P) => Effect.Effect<unknown, unknown>,
  then: (payload: P) => Effect.Effect<unknown, unknown>
) => {
  let left = n
  return (payload: P) => Effect.suspend(() => (left-- > 0 ? error(payload) : then(payload)))
}

describe("leader following", () => {
  it.live("follows a NotLeader hint, then sends straight to the leader", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const a = yield* startFakeNode(1, store)
      const b = yield* startFakeNode(2, store)
      follower(a, store, b)
      const kv = yield* make(options([a.endpoint]))
      expect(yield* kv.put("k", "v1")).toEqual({ version: 1 })
      expect(kv.leader()).toBe(b.endpoint)
      const callsToA = a.calls.length
      expect(yield* kv.put("k", "v2")).toEqual({ version: 2 })
      expect(yield* kv.getString("k")).toEqual({ value: "v2", version: 2 })
      expect(a.calls.length).toBe(callsToA)
      expect(puts(b).map((p) => [p.seq, p.ack])).toEqual([
        [1, 0],
        [2, 1]
      ])
    })
  )

  it.live("tries the next endpoint when a node names no leader or is down", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const dead = yield* startFakeNode(1, store)
      yield* dead.stop
      const a = yield* startFakeNode(2, store)
      const b = yield* startFakeNode(3, store)
      follower(a, store, undefined)
      const kv = yield* make(options([dead.endpoint, a.endpoint, b.endpoint]))
      expect(yield* kv.put("k", "v")).toEqual({ version: 1 })
      expect(kv.leader()).toBe(b.endpoint)
      expect(puts(b)).toHaveLength(1)
    })
  )

  it.live("serves stale reads from any node and sends linearizable reads to the leader", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const a = yield* startFakeNode(1, store)
      const b = yield* startFakeNode(2, store)
      follower(a, store, b)
      const kv = yield* make(options([a.endpoint]))
      yield* kv.put("k", "v")
      // The client now targets the leader; a fresh one reads stale from the follower it was given.
      const kv2 = yield* make(options([a.endpoint]))
      const stale = yield* kv2.read("k", { consistency: "stale" })
      expect(stale.endpoint).toBe(a.endpoint)
      expect([stale.appliedIndex, stale.commitIndex]).toEqual([5, 9])
      expect(stale.entry?.version).toBe(1)
      const linear = yield* kv2.read("k")
      expect(linear.endpoint).toBe(b.endpoint)
    })
  )
})

describe("retries keep the write's identity", () => {
  it.live("retries Busy with the same session and seq; the write applies once", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      b.overrides.Put = failFirst(2, () => Effect.fail(new Busy()), base.Put)
      const kv = yield* make(options([b.endpoint]))
      expect(yield* kv.put("k", "v")).toEqual({ version: 1 })
      const attempts = puts(b)
      expect(attempts).toHaveLength(3)
      expect(new Set(attempts.map((p) => `${p.session}/${p.seq}`)).size).toBe(1)
    })
  )

  it.live(
    "after a connection lost mid-write, retries elsewhere with the same seq and gets the original result",
    () =>
      Effect.gen(function* () {
        const store = new FakeStore()
        const a = yield* startFakeNode(1, store)
        const b = yield* startFakeNode(2, store)
        const base = leaderHandlers(1, store)
        // Node a applies the write, then dies before answering.
        a.overrides.Put = (req) =>
          base.Put(req).pipe(Effect.andThen(Effect.forkDetach(a.stop)), Effect.andThen(Effect.never))
        const kv = yield* make(options([a.endpoint, b.endpoint]))
        expect(yield* kv.put("k", "v")).toEqual({ version: 1 })
        const [first] = puts(a)
        const [retry] = puts(b)
        expect([retry.session, retry.seq]).toEqual([first.session, first.seq])
        expect(store.data.size).toBe(1)
      })
  )

  it.live("LeadershipLost is retried at the named leader with the same seq", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const a = yield* startFakeNode(1, store)
      const b = yield* startFakeNode(2, store)
      const base = leaderHandlers(1, store)
      a.overrides.Put = (req) =>
        base.Put(req).pipe(Effect.andThen(Effect.fail(new LeadershipLost({ leaderHint: b.endpoint }))))
      const kv = yield* make(options([a.endpoint]))
      expect(yield* kv.put("k", "v")).toEqual({ version: 1 })
      expect(puts(b)[0].seq).toBe(puts(a)[0].seq)
    })
  )
})

describe("deadlines", () => {
  it.live("a call without an answer fails with Timeout after its deadline", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      b.overrides.Get = () => Effect.never
      const kv = yield* make(options([b.endpoint]))
      const started = Date.now()
      const error = yield* Effect.flip(kv.get("k", { timeoutMs: 300 }))
      const elapsed = Date.now() - started
      assert.instanceOf(error, Timeout)
      expect(error).toMatchObject({ afterMs: 300 })
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(2500)
    })
  )

  it.live("a timed-out write is given up: the next write acknowledges past it", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      b.overrides.Put = failFirst(1, () => Effect.never, base.Put)
      const kv = yield* make(options([b.endpoint]))
      const error = yield* Effect.flip(kv.put("k", "lost", { timeoutMs: 200 }))
      assert.instanceOf(error, Timeout)
      yield* kv.put("k", "kept")
      expect(puts(b).map((p) => [p.seq, p.ack])).toEqual([
        [1, 0],
        [2, 1]
      ])
    })
  )
})

describe("deadlines and closing, call by call", () => {
  /** A handler that signals it was called, then never answers. */
  const hangAndSignal = (received: Deferred.Deferred<void>) => () =>
    Deferred.succeed(received, undefined).pipe(Effect.andThen(Effect.never))

  it.effect("a call fails with Timeout exactly at its deadline (virtual time)", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const received = yield* Deferred.make<void>()
      b.overrides.Get = hangAndSignal(received)
      const kv = yield* make(options([b.endpoint]))
      const call = yield* Effect.forkChild(kv.get("k", { timeoutMs: 300 }))
      yield* Deferred.await(received)
      yield* TestClock.adjust(299)
      yield* Effect.yieldNow
      expect(call.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(1)
      const error = yield* Effect.flip(Fiber.join(call))
      assert.instanceOf(error, Timeout)
      expect(error.afterMs).toBe(300)
    })
  )

  it.live("closing the client fails a call in flight with ClientClosed at once, not at its deadline", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const received = yield* Deferred.make<void>()
      b.overrides.Get = hangAndSignal(received)
      const kv = yield* make(options([b.endpoint], { timeoutMs: 20_000 }))
      const call = yield* Effect.forkChild(kv.get("k"))
      yield* Deferred.await(received)
      const started = Date.now()
      yield* kv.close
      assert.instanceOf(yield* Effect.flip(Fiber.join(call)), ClientClosed)
      expect(Date.now() - started).toBeLessThan(2000)
      assert.instanceOf(yield* Effect.flip(kv.get("k")), ClientClosed)
    })
  )

  it.live("Promise facade: a put in flight when the client closes rejects with ClientClosed at once", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      let putsSeen = 0
      b.overrides.Put = (req) => Effect.suspend(() => (putsSeen++ === 0 ? base.Put(req) : Effect.never))
      yield* Effect.promise(async () => {
        const kv = await connect(options([b.endpoint], { timeoutMs: 20_000 }))
        await kv.put("k", "v1")
        const pending = kv.put("k", "v2").catch((e: unknown) => e)
        for (let i = 0; i < 200 && putsSeen < 2; i++) await new Promise((r) => setTimeout(r, 10))
        expect(putsSeen).toBe(2)
        const started = Date.now()
        await kv.close()
        assert.instanceOf(await pending, ClientClosed)
        expect(Date.now() - started).toBeLessThan(2000)
        expect(count(b, "CloseSession")).toBe(1)
      })
    })
  )

  it.live("Promise facade: a call past its deadline rejects with Timeout", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      b.overrides.Get = () => Effect.never
      yield* Effect.promise(async () => {
        const kv = await connect(options([b.endpoint]))
        const started = Date.now()
        const error = await kv.get("k", { timeoutMs: 200 }).catch((e: unknown) => e)
        const elapsed = Date.now() - started
        assert.instanceOf(error, Timeout)
        expect(error).toMatchObject({ afterMs: 200 })
        expect(elapsed).toBeGreaterThanOrEqual(150)
        expect(elapsed).toBeLessThan(2500)
        // The client still works after a timed-out call.
        b.overrides = {}
        expect(await kv.get("absent")).toBeNull()
        await kv.close()
      })
    })
  )

  it.live("interrupting a write gives up its seq: the next write acknowledges past it", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      const received = yield* Deferred.make<void>()
      b.overrides.Put = failFirst(1, hangAndSignal(received), base.Put)
      const kv = yield* make(options([b.endpoint]))
      const call = yield* Effect.forkChild(kv.put("k", "lost"))
      yield* Deferred.await(received)
      yield* Fiber.interrupt(call)
      yield* kv.put("k", "kept")
      expect(puts(b).map((p) => [p.seq, p.ack])).toEqual([
        [1, 0],
        [2, 1]
      ])
    })
  )
})

describe("sessions", () => {
  it.live("SessionExpired on a write that cannot have been applied opens a new session and redoes it", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      b.overrides.Put = failFirst(
        1,
        (req) => Effect.fail(new SessionExpired({ session: req.session })),
        base.Put
      )
      const kv = yield* make(options([b.endpoint]))
      expect(yield* kv.put("k", "v")).toEqual({ version: 1 })
      expect(count(b, "OpenSession")).toBe(2)
      const [first, second] = puts(b)
      expect(second.session).not.toBe(first.session)
      expect([second.seq, second.ack]).toEqual([1, 0])
    })
  )

  it.live("SessionExpired after an attempt that may have been applied gives OutcomeUnknown", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      let calls = 0
      b.overrides.Put = (req) =>
        Effect.suspend(
          (): Effect.Effect<never, LeadershipLost | SessionExpired> =>
            calls++ === 0
              ? Effect.fail(new LeadershipLost({}))
              : Effect.fail(new SessionExpired({ session: req.session }))
        )
      const kv = yield* make(options([b.endpoint]))
      const error = yield* Effect.flip(kv.put("k", "v"))
      assert.instanceOf(error, OutcomeUnknown)
      expect(error).toMatchObject({ reason: "SessionExpired", seq: 1 })
      // The next write runs under a new session.
      b.overrides = {}
      yield* kv.put("k", "w")
      expect(count(b, "OpenSession")).toBe(2)
    })
  )

  it.live("opens one session for many concurrent first writes", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const kv = yield* make(options([b.endpoint]))
      yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => kv.put(`k${i}`, "v"),
        {
          concurrency: "unbounded"
        }
      )
      expect(count(b, "OpenSession")).toBe(1)
      expect(new Set(puts(b).map((p) => p.seq)).size).toBe(10)
    })
  )
})

describe("pipelining", () => {
  it.live("keeps many calls in flight on one connection per node", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      b.overrides.Put = (req) => Effect.sleep(50).pipe(Effect.andThen(base.Put(req)))
      const kv = yield* make(options([b.endpoint]))
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => kv.put(`k${i}`, "v"),
        {
          concurrency: "unbounded"
        }
      )
      expect(new Set(b.calls.map((c) => c.connection)).size).toBe(1)
      expect(b.inFlight.max).toBeGreaterThanOrEqual(10)
    })
  )

  it.live("never has more than maxWritesInFlight seqs beyond ack", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const base = leaderHandlers(1, store)
      b.overrides.Put = (req) => Effect.sleep(10).pipe(Effect.andThen(base.Put(req)))
      const kv = yield* make(options([b.endpoint], { maxWritesInFlight: 3 }))
      yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) => kv.put(`k${i}`, "v"),
        {
          concurrency: "unbounded"
        }
      )
      const seen = puts(b)
      expect(seen).toHaveLength(12)
      expect(Math.max(...seen.map((p) => p.seq - p.ack))).toBeLessThanOrEqual(3)
      expect(b.inFlight.max).toBeLessThanOrEqual(3)
    })
  )
})

describe("reading answers", () => {
  it.live("values stay intact after later reads: connections share one read buffer", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const node = yield* startFakeNode(1, store)
      // Small values arrive whole in one read; those larger than the 64 KiB read buffer over
      // several reads each.
      const value = (i: number) => new Uint8Array(i % 2 === 0 ? 1000 + i : 100_000 + i * 10_000).fill(i + 1)
      const writer = yield* make(options([node.endpoint]))
      for (let i = 0; i < 6; i++) yield* writer.put(`big${i}`, value(i))
      // Two clients: two connections reading into the same buffer, pipelined calls on each.
      const a = yield* make(options([node.endpoint]))
      const b = yield* make(options([node.endpoint]))
      const got = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) => (i % 2 === 0 ? a : b).get(`big${i % 6}`),
        { concurrency: "unbounded" }
      )
      // Every value read earlier is checked after all reads are done.
      got.forEach((entry, i) => {
        expect(entry?.value).toEqual(value(i % 6))
      })
    })
  )
})

describe("call options", () => {
  it.live("a malformed expectedVersion or timeout is a defect, and nothing is sent", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      const kv = yield* make(options([b.endpoint]))
      const bad: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        kv.put("k", "v", { expectedVersion: -1 }),
        kv.delete("k", { expectedVersion: 1.5 }),
        kv.get("k", { timeoutMs: 0 })
      ]
      for (const call of bad) {
        const exit = yield* Effect.exit(call)
        assert(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.instanceOf(Cause.squash(exit.cause), RangeError)
      }
      expect(b.calls).toHaveLength(0)
    })
  )
})

describe("layer", () => {
  it.live("provides KvClient for the scope and closes its session when the scope ends", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      yield* KvClient.use((kv) => kv.put("k", "v")).pipe(Effect.provide(layer(options([b.endpoint]))))
      expect(count(b, "CloseSession")).toBe(1)
      expect(store.data.size).toBe(1)
    })
  )
})

describe("Promise facade", () => {
  it.live("rejects with the tagged error instances, closes the session and then refuses calls", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(1, store)
      yield* Effect.promise(async () => {
        const kv = await connect(options([b.endpoint]))
        await kv.put("k", "v")
        const mismatch = await kv.put("k", "w", { expectedVersion: 0 }).catch((e: unknown) => e)
        expect(mismatch).toBeInstanceOf(VersionMismatch)
        expect(mismatch).toMatchObject({ _tag: "VersionMismatch", currentVersion: 1 })
        expect(await kv.getString("k")).toEqual({ value: "v", version: 1 })
        expect(await kv.get("absent")).toBeNull()
        await kv.close()
        const session = puts(b)[0].session
        expect(b.calls.filter((c) => c.rpc === "CloseSession").map((c) => c.payload.session)).toEqual([
          session
        ])
        await expect(kv.get("k")).rejects.toBeInstanceOf(ClientClosed)
      })
    })
  )

  it.live("rejects invalid options with InvalidClientOptions", () =>
    Effect.promise(async () => {
      await expect(connect({ endpoints: [] })).rejects.toBeInstanceOf(InvalidClientOptions)
      await expect(connect({ endpoints: ["localhost"] })).rejects.toBeInstanceOf(InvalidClientOptions)
      await expect(connect({ endpoints: ["h:1"], timeoutMs: -1 })).rejects.toBeInstanceOf(
        InvalidClientOptions
      )
    })
  )
})

describe("status", () => {
  it.live("reports each node, naming an unreachable one within the deadline", () =>
    Effect.gen(function* () {
      const store = new FakeStore()
      const b = yield* startFakeNode(4, store)
      const dead = yield* startFakeNode(5, store)
      yield* dead.stop
      const kv = yield* make(options([b.endpoint, dead.endpoint]))
      const started = Date.now()
      const reports = yield* kv.clusterStatus({ timeoutMs: 500 })
      expect(Date.now() - started).toBeLessThan(2500)
      expect(reports[0]).toMatchObject({ endpoint: b.endpoint, status: { id: 4, role: "leader" } })
      const down = reports[1]
      assert(down !== undefined && "error" in down)
      assert.instanceOf(down.error, NodeUnreachable)
      expect(down.error.message).toMatch(/ECONNREFUSED|refused/i)
    })
  )
})
