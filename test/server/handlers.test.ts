/**
 * The KV handlers (src/server/KvHandlers.ts), called directly (the wire is tested in
 * test/kv/protocol.test.ts), over a scripted RaftNode that applies proposals to the real KV state machine: the answers and
 * errors clients see, the request metrics, and the KV gauges read when metrics are collected.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
import { encodeCommand } from "../../src/kv/command.ts"
import {
  Busy,
  KeyTooLarge,
  LeadershipLost,
  NotLeader,
  ReadNotConfirmed,
  SessionExpired,
  ValueTooLarge,
  VersionMismatch
} from "../../src/kv/protocol.ts"
import { kvMetrics as K } from "../../src/metrics/catalog.ts"
import { layerMemory, MemoryMetrics } from "../../src/metrics/memory.ts"
import { layerPrometheus, MetricsExposition } from "../../src/metrics/prometheus.ts"
import * as RuntimeErrors from "../../src/runtime/errors.ts"
import type { ProposeError, ReadError } from "../../src/runtime/errors.ts"
import { type Proposal, RaftNode } from "../../src/runtime/RaftNode.ts"
import { KvHandlers, layerKvHandlers } from "../../src/server/KvHandlers.ts"
import { KvMachine, layerKvMachine } from "../../src/server/KvMachine.ts"
import { layerUnwired } from "../../src/transport/unwired.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** What the scripted node does with the next proposals and reads (default: apply / confirm). */
interface Script {
  proposeError: ProposeError | undefined
  readError: ReadError | undefined
  /** Proposals are held (pending) until released. */
  hold: boolean
  readonly held: Array<() => void>
  pending: number
}

/** A leader of a one-node cluster: proposals are applied to the KV machine at once. */
const layerScriptedNode = (script: Script) =>
  Layer.effect(
    RaftNode,
    Effect.map(KvMachine, (kv) => {
      let index = 0
      const apply = (data: Uint8Array, d: Deferred.Deferred<Proposal, ProposeError>) => {
        index++
        const result = kv.apply(index, { term: 1, kind: "command", data })
        script.pending--
        Deferred.doneUnsafe(d, Effect.succeed({ index, result }))
      }
      return RaftNode.of({
        id: 1,
        propose: (data) =>
          Effect.suspend(() => {
            if (script.proposeError !== undefined) return Effect.fail(script.proposeError)
            script.pending++
            const d = Deferred.makeUnsafe<Proposal, ProposeError>()
            if (script.hold) script.held.push(() => apply(data, d))
            else apply(data, d)
            return Deferred.await(d)
          }),
        readBarrier: Effect.suspend(() =>
          script.readError === undefined ? Effect.succeed(index) : Effect.fail(script.readError)
        ),
        status: Effect.sync(() => ({
          id: 1,
          role: "leader" as const,
          term: 1,
          leader: 1,
          commitIndex: index,
          appliedIndex: index,
          firstIndex: 1,
          lastIndex: index,
          snapshotIndex: 0,
          snapshotBytes: 0,
          logBytes: 0,
          pendingProposals: script.pending,
          peers: []
        })),
        counters: Effect.sync(() => ({ commitIndex: index, pendingProposals: script.pending })),
        transferLeadership: () => Effect.void,
        stopped: Effect.never
      })
    })
  )

const newScript = (): Script => ({
  proposeError: undefined,
  readError: undefined,
  hold: false,
  held: [],
  pending: 0
})

/** Wait (a bounded number of scheduler turns) until `done()` holds. */
const until = (what: string, done: () => boolean) =>
  Effect.gen(function* () {
    for (let turn = 0; turn < 1000; turn++) {
      if (done()) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`timed out waiting until ${what}`))
  })

const addresses = new Map([[2, "10.0.0.2:7002"]])

/** The handlers over a scripted node and the memory metrics; a client to call them. */
const setup = Effect.gen(function* () {
  const script = newScript()
  const metrics = new MemoryMetrics()
  const services = yield* Layer.build(
    layerKvHandlers({ clientAddresses: addresses }).pipe(
      Layer.provideMerge(layerScriptedNode(script)),
      Layer.provideMerge(layerKvMachine({ maxKeyBytes: 8, maxValueBytes: 16 })),
      Layer.provideMerge(layerMemory(metrics))
    )
  )
  const client = Context.get(services, KvHandlers)
  return { client, script, metrics, kv: Context.get(services, KvMachine) }
})

describe("KV handlers", () => {
  it.effect("answer writes and reads from the applied state", () =>
    Effect.gen(function* () {
      const { client } = yield* setup
      const { session } = yield* client.OpenSession()
      const w = { session, ack: 0, key: bytes("k") }
      assert.deepStrictEqual(yield* client.Put({ ...w, seq: 1, value: bytes("v1") }), { version: 1 })
      assert.deepStrictEqual(yield* client.Put({ ...w, seq: 2, value: bytes("v2") }), { version: 2 })
      for (const consistency of ["stale", "linearizable"] as const) {
        const got = yield* client.Get({ key: bytes("k"), consistency })
        assert.strictEqual(text(got.entry!.value), "v2")
        assert.strictEqual(got.entry!.version, 2)
        assert.strictEqual(got.appliedIndex, 3)
        assert.strictEqual(got.commitIndex, 3)
      }
      assert.isNull((yield* client.Get({ key: bytes("absent"), consistency: "stale" })).entry)
      assert.deepStrictEqual(yield* client.Delete({ ...w, seq: 3 }), { deleted: true })
      assert.deepStrictEqual(yield* client.Delete({ ...w, seq: 4 }), { deleted: false })
      assert.deepStrictEqual(yield* client.CloseSession({ session }), { closed: true })
      assert.deepStrictEqual(yield* client.CloseSession({ session }), { closed: false })
      const status = yield* client.Status()
      assert.deepStrictEqual(status, {
        id: 1,
        role: "leader",
        term: 1,
        leader: 1,
        commitIndex: 7,
        appliedIndex: 7
      })
    })
  )

  it.effect("answer apply-time and port-time errors with the protocol's errors", () =>
    Effect.gen(function* () {
      const { client } = yield* setup
      const { session } = yield* client.OpenSession()
      const w = { session, ack: 0, key: bytes("k") }
      yield* client.Put({ ...w, seq: 1, value: bytes("v") })
      const mismatch = yield* Effect.flip(client.Put({ ...w, seq: 2, expectedVersion: 0, value: bytes("x") }))
      assert.deepStrictEqual(mismatch, new VersionMismatch({ currentVersion: 1 }))
      const expired = yield* Effect.flip(client.Put({ ...w, session: 999, seq: 1, value: bytes("x") }))
      assert.deepStrictEqual(expired, new SessionExpired({ session: 999 }))
      const longKey = bytes("much-too-long")
      assert.deepStrictEqual(
        yield* Effect.flip(client.Put({ ...w, seq: 3, key: longKey, value: bytes("x") })),
        new KeyTooLarge({ size: longKey.length, limit: 8 })
      )
      assert.deepStrictEqual(
        yield* Effect.flip(client.Put({ ...w, seq: 3, value: new Uint8Array(17) })),
        new ValueTooLarge({ size: 17, limit: 16 })
      )
      assert.deepStrictEqual(
        yield* Effect.flip(client.Get({ key: longKey, consistency: "stale" })),
        new KeyTooLarge({ size: longKey.length, limit: 8 })
      )
      assert.deepStrictEqual(
        yield* Effect.flip(client.Delete({ ...w, seq: 3, key: longKey })),
        new KeyTooLarge({ size: longKey.length, limit: 8 })
      )
    })
  )

  it.effect("map the node's proposal and read failures onto retryable protocol errors", () =>
    Effect.gen(function* () {
      const { client, script } = yield* setup
      const put = client.Put({ session: 1, seq: 1, ack: 0, key: bytes("k"), value: bytes("v") })
      const cases: ReadonlyArray<readonly [ProposeError, unknown]> = [
        [new RuntimeErrors.NotLeader({ leader: 2 }), new NotLeader({ leaderHint: "10.0.0.2:7002" })],
        [new RuntimeErrors.NotLeader({ leader: 3 }), new NotLeader({})],
        [new RuntimeErrors.Busy({ pending: 10 }), new Busy()],
        [new RuntimeErrors.TransferInProgress({ leader: 1 }), new Busy()],
        [new RuntimeErrors.ProposalLost({ index: 5 }), new LeadershipLost({})],
        [new RuntimeErrors.OutcomeUnknown({ index: 5 }), new LeadershipLost({})],
        [new RuntimeErrors.NodeStopped({ reason: "bye" }), new LeadershipLost({})]
      ]
      for (const [error, expected] of cases) {
        script.proposeError = error
        assert.deepStrictEqual(yield* Effect.flip(put), expected, error._tag)
        assert.deepStrictEqual(yield* Effect.flip(client.OpenSession()), expected, error._tag)
      }

      const get = client.Get({ key: bytes("k"), consistency: "linearizable" })
      const reads: ReadonlyArray<readonly [ReadError, unknown]> = [
        [
          new RuntimeErrors.ReadNotConfirmed({ reason: "NotLeader", leader: 2 }),
          new ReadNotConfirmed({ reason: "NotLeader", leaderHint: "10.0.0.2:7002" })
        ],
        [
          new RuntimeErrors.ReadNotConfirmed({ reason: "NoLeader", leader: 0 }),
          new ReadNotConfirmed({ reason: "NoLeader" })
        ],
        [
          new RuntimeErrors.ReadNotConfirmed({ reason: "LeadershipLost", leader: 0 }),
          new ReadNotConfirmed({ reason: "LeadershipLost" })
        ],
        [new RuntimeErrors.NodeStopped({ reason: "bye" }), new ReadNotConfirmed({ reason: "LeadershipLost" })]
      ]
      for (const [error, expected] of reads) {
        script.readError = error
        assert.deepStrictEqual(yield* Effect.flip(get), expected, error._tag)
      }
      // A stale read does not go through the barrier.
      assert.isNull((yield* client.Get({ key: bytes("k"), consistency: "stale" })).entry)
    })
  )

  it.effect("count every request by method and outcome, with its duration", () =>
    Effect.gen(function* () {
      const { client, metrics, script } = yield* setup
      const { session } = yield* client.OpenSession()
      yield* client.Put({ session, seq: 1, ack: 0, key: bytes("k"), value: bytes("v") })
      yield* Effect.flip(
        client.Put({ session, seq: 2, ack: 0, key: bytes("k"), expectedVersion: 7, value: bytes("v") })
      )
      yield* Effect.flip(client.Get({ key: bytes("much-too-long"), consistency: "stale" }))
      script.proposeError = new RuntimeErrors.NotLeader({ leader: 2 })
      yield* Effect.flip(client.Delete({ session, seq: 3, ack: 0, key: bytes("k") }))
      yield* Effect.flip(client.CloseSession({ session }))

      const count = (method: string, outcome: string) => metrics.value(K.requests, { method, outcome })
      assert.strictEqual(count("open_session", "ok"), 1)
      assert.strictEqual(count("put", "ok"), 1)
      assert.strictEqual(count("put", "version_mismatch"), 1)
      assert.strictEqual(count("get", "key_too_large"), 1)
      assert.strictEqual(count("delete", "not_leader"), 1)
      assert.strictEqual(count("close_session", "not_leader"), 1)
      assert.lengthOf(metrics.observations(K.requestDuration, { method: "put" }), 2)
      assert.lengthOf(metrics.observations(K.requestDuration, { method: "get" }), 1)
      // Status is not a KV request.
      yield* client.Status()
      assert.isUndefined(count("status", "ok"))
    })
  )

  it.effect("a request the client gives up on is counted as interrupted", () =>
    Effect.gen(function* () {
      const { client, metrics, script } = yield* setup
      script.hold = true
      const fiber = yield* Effect.forkChild(client.OpenSession())
      yield* until("the proposal is held", () => script.held.length === 1)
      yield* Fiber.interrupt(fiber)
      yield* until(
        "the request is counted as interrupted",
        () => metrics.value(K.requests, { method: "open_session", outcome: "interrupted" }) === 1
      )
      assert.isUndefined(metrics.value(K.requests, { method: "open_session", outcome: "ok" }))
    })
  )

  it.effect("the KV gauges show the current sizes whenever they are read, without a request", () =>
    Effect.gen(function* () {
      const { client, metrics, script, kv } = yield* setup
      assert.strictEqual(metrics.value(K.keys), 0)
      const { session } = yield* client.OpenSession()
      for (let seq = 1; seq <= 3; seq++) {
        yield* client.Put({ session, seq, ack: seq - 1, key: bytes(`k${seq}`), value: bytes("v") })
      }
      assert.strictEqual(metrics.value(K.keys), 3)
      assert.strictEqual(metrics.value(K.sessions), 1)
      assert.strictEqual(metrics.value(K.pendingProposals), 0)
      assert.deepStrictEqual(
        metrics.all(K.keys).map((s) => s.value),
        [3]
      )

      // Held proposals are pending until applied; the gauge follows without any request ending.
      script.hold = true
      const fiber = yield* Effect.forkChild(
        Effect.all(
          [
            client.Put({ session, seq: 4, ack: 3, key: bytes("k4"), value: bytes("v") }),
            client.Put({ session, seq: 5, ack: 3, key: bytes("k5"), value: bytes("v") })
          ],
          { concurrency: 2 }
        )
      )
      yield* until("both proposals are held", () => script.held.length === 2)
      assert.strictEqual(metrics.value(K.pendingProposals), 2)
      for (const release of script.held.splice(0)) release()
      yield* Fiber.join(fiber)
      assert.strictEqual(metrics.value(K.pendingProposals), 0)
      assert.strictEqual(metrics.value(K.keys), 5)
      assert.strictEqual(kv.keyCount, 5)
    })
  )
})

const layerStubTransport = layerUnwired()

describe("KV gauges in the Prometheus exposition", () => {
  it.effect("are read at scrape time: the current key count, sessions and pending proposals", () =>
    Effect.gen(function* () {
      const script = newScript()
      const services = yield* Layer.build(
        layerKvHandlers({ clientAddresses: addresses }).pipe(
          Layer.provideMerge(layerScriptedNode(script)),
          Layer.provideMerge(layerKvMachine()),
          Layer.provideMerge(layerPrometheus.pipe(Layer.provide(layerStubTransport)))
        )
      )
      const client = Context.get(services, KvHandlers)
      const render = Context.get(services, MetricsExposition).render
      const sample = (t: string, name: string) => {
        const line = t.split("\n").find((l) => l.startsWith(`${name} `))
        return line === undefined ? undefined : Number(line.slice(name.length + 1))
      }
      const before = yield* render
      assert.strictEqual(sample(before, "raftkv_kv_keys"), 0)
      const { session } = yield* client.OpenSession()
      yield* client.Put({ session, seq: 1, ack: 0, key: bytes("a"), value: bytes("v") })
      yield* client.Put({ session, seq: 2, ack: 1, key: bytes("b"), value: bytes("v") })
      const after = yield* render
      assert.strictEqual(sample(after, "raftkv_kv_keys"), 2)
      assert.strictEqual(sample(after, "raftkv_kv_sessions"), 1)
      assert.strictEqual(sample(after, "raftkv_kv_pending_proposals"), 0)
      // A key written straight into the machine (as a follower applies entries) shows at the next
      // scrape: nothing but the scrape reads it.
      const kv = Context.get(services, KvMachine)
      kv.apply(kv.appliedIndex + 1, {
        term: 1,
        kind: "command",
        data: encodeCommand({
          _tag: "Put",
          at: Date.now(),
          session,
          seq: 3,
          ack: 2,
          key: bytes("c"),
          value: bytes("v")
        })
      })
      assert.strictEqual(sample(yield* render, "raftkv_kv_keys"), 3)
    })
  )
})
