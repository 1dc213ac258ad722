import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Result from "effect/Result"
import { makePool } from "../../src/client/connections.ts"
import { encodeCommand } from "../../src/kv/command.ts"
import { checkLimits } from "../../src/kv/limits.ts"
import {
  deleteOutcome,
  KeyTooLarge,
  type KvApi,
  limitError,
  NotLeader,
  putOutcome,
  SessionExpired,
  StaleSequence,
  ValueTooLarge,
  VersionMismatch
} from "../../src/kv/protocol.ts"
import { KvStateMachine } from "../../src/kv/state-machine.ts"
import { serveClients } from "../../src/server/KvServer.ts"
import { bytes } from "./fixtures.ts"

/**
 * A stand-in for a node: applies each write to a local state machine right away (no Raft), the
 * way the real service answers once the entry is applied. `leader: false` answers NotLeader.
 */
const handlers = (options: { readonly leader: boolean }): KvApi => {
  const sm = new KvStateMachine({ maxKeyBytes: 16, maxValueBytes: 64 })
  const propose = (command: Parameters<typeof encodeCommand>[0]) =>
    sm.apply(sm.appliedIndex + 1, { term: 1, kind: "command", data: encodeCommand(command) })
  const notLeader = new NotLeader({ leaderHint: "127.0.0.1:7101" })
  return {
    Get: ({ key }) => {
      const limit = checkLimits(sm.config, key, undefined)
      if (limit !== undefined) return Effect.fail(new KeyTooLarge({ size: limit.size, limit: limit.limit }))
      const found = sm.get(key)
      return Effect.succeed({
        entry: found === undefined ? null : { value: found.value, version: found.version },
        appliedIndex: sm.appliedIndex,
        commitIndex: sm.appliedIndex
      })
    },
    Put: (p) => {
      if (!options.leader) return Effect.fail(notLeader)
      const limit = checkLimits(sm.config, p.key, p.value)
      if (limit !== undefined) return Effect.fail(limitError(limit)) // fast reject at the port
      const r = propose({ _tag: "Put", at: 0, ...p })
      return Effect.fromResult(putOutcome(r))
    },
    Delete: (p) => {
      if (!options.leader) return Effect.fail(notLeader)
      return Effect.fromResult(deleteOutcome(propose({ _tag: "Delete", at: 0, ...p })))
    },
    OpenSession: () => {
      if (!options.leader) return Effect.fail(notLeader)
      const r = propose({ _tag: "OpenSession", at: 0 })
      return r._tag === "SessionOpened" ? Effect.succeed({ session: r.session }) : Effect.die(r)
    },
    CloseSession: ({ session }) => {
      const r = propose({ _tag: "CloseSession", at: 0, session })
      return r._tag === "SessionClosed" ? Effect.succeed({ closed: r.closed }) : Effect.die(r)
    },
    Status: () =>
      Effect.succeed({
        id: 1,
        role: options.leader ? ("leader" as const) : ("follower" as const),
        term: 1,
        leader: options.leader ? 1 : null,
        commitIndex: sm.appliedIndex,
        appliedIndex: sm.appliedIndex
      })
  }
}

/** Starts a server on an ephemeral port and returns a client connection to it over real TCP,
 * as the SDK makes them. */
const connect = (options: { readonly leader: boolean }) =>
  Effect.gen(function* () {
    const api = handlers(options)
    const address = yield* serveClients({ host: "127.0.0.1", port: 0 }, () => api)
    const pool = yield* makePool({ connectTimeoutMs: 1000, keepAliveMs: 5000 })
    return yield* pool.get(`127.0.0.1:${address.port}`)
  })

describe("protocol over TCP (client-wire, KvServer, client connections)", () => {
  it.live("puts, gets, deletes; typed errors arrive as their classes with their fields", () =>
    Effect.gen(function* () {
      const kv = yield* connect({ leader: true })
      const { session } = yield* kv.OpenSession()
      const key = bytes("k")
      const put = (seq: number, value: string, expectedVersion?: number) =>
        kv.Put({
          session,
          seq,
          ack: seq - 1,
          key,
          value: bytes(value),
          ...(expectedVersion === undefined ? {} : { expectedVersion })
        })

      assert.deepStrictEqual(yield* put(1, "one"), { version: 1 })
      assert.deepStrictEqual(yield* put(2, "two", 1), { version: 2 })
      const got = yield* kv.Get({ key, consistency: "linearizable" })
      assert.deepStrictEqual(got.entry?.version, 2)
      assert.deepStrictEqual(new TextDecoder().decode(got.entry?.value), "two")
      assert.strictEqual(got.appliedIndex, 3)

      const mismatch = yield* Effect.flip(put(3, "x", 0))
      assert.instanceOf(mismatch, VersionMismatch)
      assert.strictEqual(mismatch._tag === "VersionMismatch" && mismatch.currentVersion, 2)

      const stale = yield* Effect.flip(put(1, "again"))
      assert.instanceOf(stale, StaleSequence)

      const big = yield* Effect.flip(put(4, "v".repeat(65)))
      assert.instanceOf(big, ValueTooLarge)
      assert.deepStrictEqual(big._tag === "ValueTooLarge" && [big.size, big.limit], [65, 64])

      assert.deepStrictEqual(yield* kv.Delete({ session, seq: 5, ack: 4, key }), { deleted: true })
      assert.strictEqual((yield* kv.Get({ key, consistency: "stale" })).entry, null)

      assert.deepStrictEqual(yield* kv.CloseSession({ session }), { closed: true })
      const expired = yield* Effect.flip(kv.Delete({ session, seq: 6, ack: 5, key }))
      assert.instanceOf(expired, SessionExpired)
    })
  )

  it.live("many requests in flight on one connection are matched by request id", () =>
    Effect.gen(function* () {
      const kv = yield* connect({ leader: true })
      const { session } = yield* kv.OpenSession()
      const n = 100
      const key = bytes("counter")
      const results = yield* Effect.all(
        Array.from({ length: n }, (_, i) =>
          kv
            .Put({ session, seq: i + 1, ack: 0, key, value: bytes(String(i)) })
            .pipe(Effect.map((r) => r.version))
        ),
        { concurrency: "unbounded" }
      )
      // Every put applied exactly once: versions are a permutation of 1..n.
      assert.deepStrictEqual(
        [...results].sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i + 1)
      )
      const got = yield* kv.Get({ key, consistency: "stale" })
      assert.strictEqual(got.entry?.version, n)
    })
  )

  it.live("a follower answers NotLeader with the leader's client address; Status works anywhere", () =>
    Effect.gen(function* () {
      const kv = yield* connect({ leader: false })
      const error = yield* Effect.flip(kv.OpenSession())
      assert.instanceOf(error, NotLeader)
      assert.strictEqual(error._tag === "NotLeader" && error.leaderHint, "127.0.0.1:7101")
      const status = yield* kv.Status()
      assert.deepStrictEqual(status, {
        id: 1,
        role: "follower",
        term: 1,
        leader: null,
        commitIndex: 0,
        appliedIndex: 0
      })
    })
  )
})

describe("protocol answers", () => {
  it("apply results map onto protocol answers", () => {
    assert.deepStrictEqual(putOutcome({ _tag: "Written", version: 3 }), Result.succeed({ version: 3 }))
    assert.deepStrictEqual(
      deleteOutcome({ _tag: "Deleted", deleted: false }),
      Result.succeed({ deleted: false })
    )
    const mismatch = putOutcome({ _tag: "VersionMismatch", currentVersion: 4 })
    assert.isTrue(Result.isFailure(mismatch) && mismatch.failure instanceof VersionMismatch)
    const key = deleteOutcome({ _tag: "KeyTooLarge", size: 5, limit: 4 })
    assert.isTrue(Result.isFailure(key) && key.failure instanceof KeyTooLarge)
    // A result that cannot answer this request is a bookkeeping bug: a defect, not an answer.
    assert.throws(() => putOutcome({ _tag: "Deleted", deleted: true }))
    assert.throws(() => deleteOutcome({ _tag: "ValueTooLarge", size: 5, limit: 4 }))
  })
})
