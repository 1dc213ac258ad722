/**
 * The metrics a running cluster reports, read from the in-memory sink of each node (in-process
 * nodes over the memory transport and storage, on virtual time).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type { NodeId } from "../../src/core/types.ts"
import { kvMetrics, raftMetrics as R } from "../../src/metrics/catalog.ts"
import { layerMemory, MemoryMetrics } from "../../src/metrics/memory.ts"
import { advanceUntil, leaderOf, makeCluster, type TestCluster } from "../runtime/support.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

/** A cluster whose nodes report into fresh MemoryMetrics (replaced at every restart). */
const observedCluster = (options: { readonly snapshotThresholdBytes?: number } = {}) =>
  Effect.gen(function* () {
    const metrics = new Map<NodeId, MemoryMetrics>()
    const cluster = yield* makeCluster({
      ...options,
      metrics: (id) => {
        const m = new MemoryMetrics()
        metrics.set(id, m)
        return layerMemory(m)
      }
    })
    return { cluster, metrics: (id: NodeId) => metrics.get(id)! }
  })

const electedLeader = (cluster: TestCluster) =>
  Effect.gen(function* () {
    yield* advanceUntil("every node knows the same leader", () =>
      Effect.gen(function* () {
        const leader = yield* leaderOf(cluster)
        if (leader === undefined) return false
        const statuses = yield* Effect.forEach(cluster.nodes, (n) => n.node!.status)
        return statuses.every((s) => s.leader === leader && s.appliedIndex >= 1)
      })
    )
    return (yield* leaderOf(cluster))!
  })

/** Let `ms` of virtual time pass in 10 ms steps, letting the nodes' fibers run at each. */
const advance = (ms: number) =>
  Effect.gen(function* () {
    for (let t = 0; t < ms; t += 10) {
      yield* TestClock.adjust("10 millis")
      for (let k = 0; k < 5; k++) yield* Effect.yieldNow
    }
  })

const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)

describe("MetricsSink (memory) on a running cluster", () => {
  it.effect("an election shows on every node: term, role, leader change, election count and duration", () =>
    Effect.gen(function* () {
      const { cluster, metrics } = yield* observedCluster()
      const leader = yield* electedLeader(cluster)
      const term = (yield* cluster.node(leader).status).term
      let elections = 0
      for (const n of cluster.nodes) {
        const m = metrics(n.id)
        const isLeader = n.id === leader
        assert.strictEqual(m.value(R.term), term, `term on node ${n.id}`)
        assert.strictEqual(m.value(R.role, { role: "leader" }), isLeader ? 1 : 0, `leader role on ${n.id}`)
        assert.strictEqual(
          m.value(R.role, { role: "follower" }),
          isLeader ? 0 : 1,
          `follower role on ${n.id}`
        )
        assert.strictEqual(m.value(R.role, { role: "candidate" }), 0)
        assert.strictEqual(m.value(R.role, { role: "precandidate" }), 0)
        assert.strictEqual(m.value(R.leaderChanges), 1, `one leader learned by node ${n.id}`)
        assert.isAtLeast(m.value(R.commitIndex)!, 1)
        elections += m.value(R.electionsStarted)!
      }
      const won = metrics(leader)
      assert.isAtLeast(won.value(R.electionsStarted)!, 1, "the leader stood as a candidate")
      assert.isAtMost(elections, term, "each election is a new term")
      // The winner campaigned (pre-vote, then vote) for some virtual time and then knew the leader.
      const durations = won.observations(R.electionDuration)
      assert.isAtLeast(durations.length, 1)
      for (const d of durations) assert.isTrue(d >= 0 && d < 5, `election took ${d}s`)
      // Its vote requests were answered: at least one peer granted both the pre-vote and the vote.
      const granted = (method: string) =>
        won.all(R.rpcDuration).filter((s) => s.labels.method === method && s.labels.outcome === "granted")
      assert.isAtLeast(sum(granted("pre_vote").map((s) => s.value)), 1)
      assert.isAtLeast(sum(granted("request_vote").map((s) => s.value)), 1)
      yield* cluster.shutdown
    })
  )

  it.effect("a proposal produces commit latency on the leader and apply latency on every node", () =>
    Effect.gen(function* () {
      const { cluster, metrics } = yield* observedCluster()
      const leader = yield* electedLeader(cluster)
      const before = metrics(leader).observations(R.commitLatency).length
      const fiber = yield* Effect.forkChild(
        Effect.forEach(["a", "b", "c", "d", "e"], (c) => cluster.node(leader).propose(bytes(c)), {
          concurrency: "unbounded"
        })
      )
      yield* advanceUntil("applied everywhere", () =>
        Effect.succeed(cluster.nodes.every((n) => n.recorder.applied.length === 5))
      )
      yield* Fiber.join(fiber)
      const lm = metrics(leader)
      // One commit latency observation per proposal, on the leader only.
      assert.strictEqual(lm.observations(R.commitLatency).length - before, 5)
      for (const v of lm.observations(R.commitLatency)) assert.isTrue(v >= 0 && v < 1)
      for (const n of cluster.nodes) {
        const m = metrics(n.id)
        const status = yield* n.node!.status
        if (n.id !== leader) assert.strictEqual(m.observations(R.commitLatency).length, 0)
        // Apply latency: one per applied entry (the leader's no-op and the five commands).
        assert.strictEqual(m.observations(R.applyLatency).length, status.appliedIndex)
        assert.strictEqual(m.value(R.appliedIndex), status.appliedIndex)
        assert.isAtLeast(m.value(R.diskWrites, { kind: "batch" })!, 1)
        assert.strictEqual(m.observations(R.persistDuration).length, m.value(R.diskWrites, { kind: "batch" }))
        assert.isAtLeast(sum(m.observations(R.persistBatchEntries)), status.lastIndex)
        assert.isAtLeast(m.observations(R.loopBatchEvents).length, 1)
      }
      // Replication: the leader timed AppendEntries round trips to both followers, which timed
      // their handling of them; once caught up, the leader reports no lag.
      for (const n of cluster.nodes) {
        if (n.id === leader) continue
        const appends = lm
          .all(R.rpcDuration)
          .filter((s) => s.labels.peer === String(n.id) && s.labels.method === "append_entries")
        assert.isAtLeast(sum(appends.filter((s) => s.labels.outcome === "ok").map((s) => s.value)), 1)
        assert.isAtLeast(metrics(n.id).observations(R.appendHandlerDuration).length, 1)
        assert.strictEqual(metrics(n.id).all(R.replicationLag).length, 0, "followers report no lag")
      }
      yield* advanceUntil("leader reports zero lag", () =>
        Effect.succeed(
          lm.all(R.replicationLag).length === 2 && lm.all(R.replicationLag).every((s) => s.value === 0)
        )
      )
      yield* cluster.shutdown
    })
  )

  it.effect("commit latency is the time a proposal waited for a majority", () =>
    Effect.gen(function* () {
      const { cluster, metrics } = yield* observedCluster()
      const leader = yield* electedLeader(cluster)
      const followers = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id)
      for (const f of followers) yield* cluster.network.partition(leader, f)
      const fiber = yield* Effect.forkChild(cluster.node(leader).propose(bytes("slow")))
      // Less than the election timeout (150 ms): the leader keeps its leadership.
      yield* advance(60)
      for (const f of followers) yield* cluster.network.heal(leader, f)
      // The append lost in the partition is repaired when the next one reveals the gap.
      const next = yield* Effect.forkChild(cluster.node(leader).propose(bytes("next")))
      yield* advanceUntil("both committed", () =>
        Effect.succeed(fiber.pollUnsafe() !== undefined && next.pollUnsafe() !== undefined)
      )
      yield* Fiber.join(fiber)
      const latencies = metrics(leader).observations(R.commitLatency)
      assert.strictEqual(latencies.length, 2)
      assert.isTrue(latencies[0]! >= 0.06 && latencies[0]! < 0.5, `commit took ${latencies[0]}s`)
      assert.isTrue(latencies[1]! < latencies[0]!, "the second proposal did not wait for the partition")
      yield* cluster.shutdown
    })
  )

  it.effect("snapshots: create on every node, install and restore on a follower that fell behind", () =>
    Effect.gen(function* () {
      const { cluster, metrics } = yield* observedCluster({ snapshotThresholdBytes: 256 })
      const leader = yield* electedLeader(cluster)
      const behind = cluster.nodes.find((n) => n.id !== leader)!.id
      yield* cluster.crash(behind)
      const write = (prefix: string, n: number) =>
        Effect.forkChild(
          Effect.forEach(
            Array.from({ length: n }, (_, k) => `${prefix}-${k}-${"x".repeat(40)}`),
            (c) => cluster.node(leader).propose(bytes(c)),
            { concurrency: 8 }
          )
        )
      const first = yield* write("w", 40)
      yield* advanceUntil("the leader took a snapshot", () =>
        Effect.succeed((metrics(leader).value(R.snapshotIndex) ?? 0) > 0)
      )
      yield* Fiber.join(first)
      const lm = metrics(leader)
      assert.isAtLeast(lm.observations(R.snapshotDuration, { kind: "create" }).length, 1)
      assert.isAtLeast(lm.value(R.snapshotBytes)!, 1)
      assert.isAtLeast(lm.value(kvMetrics.snapshots)!, 1)
      assert.isAtLeast(lm.value(R.diskWrites, { kind: "snapshot" })!, 1)
      const snapshotIndex = (yield* cluster.node(leader).status).snapshotIndex
      assert.strictEqual(lm.value(R.snapshotIndex), snapshotIndex)

      // The crashed follower restarts behind the leader's snapshot: it must be sent the snapshot.
      yield* cluster.start(behind)
      const fm = metrics(behind)
      yield* advanceUntil("the follower installed the snapshot", () =>
        Effect.succeed(fm.observations(R.snapshotDuration, { kind: "restore" }).length >= 1)
      )
      assert.isAtLeast(fm.observations(R.snapshotDuration, { kind: "install" }).length, 1)
      assert.isAtLeast(fm.value(R.diskWrites, { kind: "snapshot_chunk" })!, 1)
      yield* advanceUntil("the follower reports the installed snapshot", () =>
        Effect.succeed((fm.value(R.snapshotIndex) ?? 0) >= snapshotIndex)
      )
      const chunks = lm
        .all(R.rpcDuration)
        .filter((s) => s.labels.method === "install_snapshot" && s.labels.peer === String(behind))
      assert.isAtLeast(sum(chunks.filter((s) => s.labels.outcome === "ok").map((s) => s.value)), 1)
      yield* cluster.shutdown
    })
  )
})
