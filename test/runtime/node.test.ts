import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { advanceUntil, leaderOf, makeCluster } from "./support.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

describe("RaftNode over memory storage and transport", () => {
  it.effect("elects a leader, replicates proposals in order to every node", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster()
      yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
      const leader = cluster.node((yield* leaderOf(cluster))!)
      const proposals = yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 20 }, (_, k) => `cmd-${k}`),
          (c) => leader.propose(bytes(c)),
          { concurrency: "unbounded" }
        )
      )
      yield* advanceUntil("all applied", () =>
        Effect.succeed(cluster.nodes.every((n) => n.recorder.applied.length === 20))
      )
      const results = yield* Fiber.join(proposals)
      // Each proposal's result is the state machine's count after applying it: all distinct.
      assert.deepStrictEqual(
        results.map((r) => r.result as number).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, k) => k + 1)
      )
      const expected = cluster.nodes[0]!.recorder.applied
      assert.deepStrictEqual([...expected].sort(), Array.from({ length: 20 }, (_, k) => `cmd-${k}`).sort())
      for (const n of cluster.nodes) assert.deepStrictEqual(n.recorder.applied, expected)
      yield* cluster.shutdown
    })
  )

  it.effect("a follower answers proposals with NotLeader naming the leader", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster()
      yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
      const leaderId = (yield* leaderOf(cluster))!
      yield* advanceUntil("followers know the leader", () =>
        Effect.forEach(cluster.nodes, (n) => n.node!.status).pipe(
          Effect.map((ss) => ss.every((s) => s.leader === leaderId))
        )
      )
      const follower = cluster.nodes.find((n) => n.id !== leaderId)!.node!
      const error = yield* Effect.flip(follower.propose(bytes("x")))
      assert.strictEqual(error._tag, "NotLeader")
      if (error._tag === "NotLeader") assert.strictEqual(error.leader, leaderId)
      yield* cluster.shutdown
    })
  )

  it.effect("after the leader crashes a new one is elected; the old one restarts and catches up", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster()
      yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
      const first = (yield* leaderOf(cluster))!
      yield* Effect.forkChild(cluster.node(first).propose(bytes("before")))
      yield* advanceUntil("applied everywhere", () =>
        Effect.succeed(cluster.nodes.every((n) => n.recorder.applied.includes("before")))
      )
      yield* cluster.crash(first)
      yield* advanceUntil("a new leader", () =>
        leaderOf(cluster).pipe(Effect.map((l) => l !== undefined && l !== first))
      )
      const second = (yield* leaderOf(cluster))!
      const r = yield* Effect.forkChild(cluster.node(second).propose(bytes("after")))
      yield* cluster.start(first)
      yield* advanceUntil("restarted node caught up", () =>
        Effect.succeed(cluster.nodes.every((n) => n.recorder.applied.join() === "before,after"))
      )
      assert.isDefined(r)
      yield* cluster.shutdown
    })
  )

  it.effect("linearizable read barrier returns once the local state machine covers the commit", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster()
      yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
      const leaderId = (yield* leaderOf(cluster))!
      yield* Effect.forkChild(cluster.node(leaderId).propose(bytes("w1")))
      yield* advanceUntil("w1 applied on leader", () =>
        Effect.succeed(cluster.nodes.find((n) => n.id === leaderId)!.recorder.applied.includes("w1"))
      )
      const follower = cluster.nodes.find((n) => n.id !== leaderId)!
      const fiber = yield* Effect.forkChild(follower.node!.readBarrier)
      yield* advanceUntil("read confirmed", () => Effect.succeed(follower.recorder.applied.includes("w1")))
      yield* advanceUntil("barrier", () => Effect.succeed(fiber.pollUnsafe() !== undefined))
      const index = yield* Fiber.await(fiber)
      assert.isTrue(index._tag === "Success")
      yield* cluster.shutdown
    })
  )
})
