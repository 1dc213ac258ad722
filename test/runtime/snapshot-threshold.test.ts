/**
 * When a node snapshots: once the log applied since its last snapshot passes the threshold, and
 * only then. Counted from the snapshots each node reports (in-process nodes over the memory
 * transport and storage, on virtual time).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { defaultConfig } from "../../src/core/config.ts"
import type { NodeId } from "../../src/core/types.ts"
import { kvMetrics } from "../../src/metrics/catalog.ts"
import { layerMemory, MemoryMetrics } from "../../src/metrics/memory.ts"
import { layer as nodeLayer, RaftNode } from "../../src/runtime/RaftNode.ts"
import { StorageIOError } from "../../src/storage/errors.ts"
import { LogStore } from "../../src/storage/LogStore.ts"
import { layerMemory as storeLayer, MemoryDisk } from "../../src/storage/memory.ts"
import { layerUnwired } from "../../src/transport/unwired.ts"
import { advanceUntil, leaderOf, makeCluster, Recorder, recorderLayer } from "./support.ts"

const THRESHOLD = 2048
/** What the threshold counts for each entry: its data and a fixed allowance (`Log.entryBytes`). */
const ENTRY_OVERHEAD = 16

describe("RaftNode: snapshot threshold", () => {
  it.effect("a node takes one snapshot per threshold's worth of applied log, never two of the same log", () =>
    Effect.gen(function* () {
      const metrics = new Map<NodeId, MemoryMetrics>()
      const cluster = yield* makeCluster({
        snapshotThresholdBytes: THRESHOLD,
        metrics: (id) => {
          const m = new MemoryMetrics()
          metrics.set(id, m)
          return layerMemory(m)
        }
      })
      yield* advanceUntil("a leader", () => Effect.map(leaderOf(cluster), (l) => l !== undefined))
      const leader = (yield* leaderOf(cluster))!
      // Many small proposals in flight at once: turns run back to back while snapshots complete.
      const data = new Uint8Array(100 - ENTRY_OVERHEAD).fill(7)
      const count = 400
      yield* Effect.forEach(Array.from({ length: count }), () => cluster.node(leader).propose(data), {
        concurrency: 16,
        discard: true
      })
      yield* advanceUntil("every node applied every entry", () =>
        Effect.map(
          Effect.forEach(cluster.nodes, (n) => n.node!.status),
          (all) => all.every((s) => s.appliedIndex >= count)
        )
      )
      // Every applied entry counts (the no-op of the leader's term too, a few bytes more).
      const applied = count * 100
      for (const n of cluster.nodes) {
        const taken = metrics.get(n.id)!.value(kvMetrics.snapshots) ?? 0
        assert.isAtLeast(taken, 1, `node ${n.id} took no snapshot`)
        // Each snapshot needs THRESHOLD bytes applied after the one before it.
        assert.isAtMost(taken, Math.floor((applied + 100) / THRESHOLD), `node ${n.id}: ${taken} snapshots`)
      }
      yield* cluster.shutdown
    })
  )

  it.effect("a snapshot that fails leaves its log counted: the next turn tries again", () =>
    Effect.gen(function* () {
      let attempts = 0
      // The memory store, whose first snapshot write fails as a full disk would.
      const failingFirstSnapshot = Layer.effect(
        LogStore,
        Effect.map(LogStore, (store) =>
          LogStore.of({
            ...store,
            saveSnapshot: (target, chunks) =>
              ++attempts === 1
                ? Effect.fail(
                    new StorageIOError({
                      operation: "write",
                      path: "snapshot",
                      code: "ENOSPC",
                      detail: "test"
                    })
                  )
                : store.saveSnapshot(target, chunks)
          })
        )
      ).pipe(Layer.provide(storeLayer(new MemoryDisk(), { clusterId: "test", nodeId: 1 })))
      const metrics = new MemoryMetrics()
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(
        nodeLayer({
          raft: {
            ...defaultConfig(1, [1]),
            electionTimeoutMin: 150,
            electionTimeoutMax: 300,
            heartbeatInterval: 30
          },
          snapshotThresholdBytes: 1000,
          maxPendingProposals: 100,
          tickMs: 10
        }).pipe(
          Layer.provide(
            Layer.mergeAll(
              failingFirstSnapshot,
              layerUnwired(1),
              recorderLayer(new Recorder()),
              layerMemory(metrics)
            )
          )
        ),
        scope
      )
      const node = Context.get(ctx, RaftNode)
      yield* advanceUntil("node 1 leads", () => Effect.map(node.status, (s) => s.role === "leader"))
      // 12 entries of 100 counted bytes: the threshold is passed once, by 200 bytes at most.
      const data = new Uint8Array(100 - ENTRY_OVERHEAD).fill(1)
      for (let k = 0; k < 12; k++) yield* node.propose(data)
      yield* advanceUntil("a snapshot after the failed one", () =>
        Effect.succeed((metrics.value(kvMetrics.snapshots) ?? 0) >= 1)
      )
      assert.strictEqual(attempts, 2)
      const status = yield* node.status
      assert.isAtLeast(status.snapshotIndex, 10)
      // What was applied after the snapshot's index is all that counts toward the next one.
      assert.isBelow(status.logBytes, 1000)
      yield* Scope.close(scope, Exit.void)
    })
  )
})
