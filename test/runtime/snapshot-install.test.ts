import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Queue, Scope } from "effect"
import { defaultConfig } from "../../src/core/config.ts"
import type { Command, Envelope, InstallSnapshot } from "../../src/core/types.ts"
import { layerNoop } from "../../src/metrics/MetricsSink.ts"
import {
  durableNow,
  layer as nodeLayer,
  RaftNode,
  supersededRestoresDropped
} from "../../src/runtime/RaftNode.ts"
import { layerMemory as storeLayer, MemoryDisk } from "../../src/storage/memory.ts"
import { layerUnwired } from "../../src/transport/unwired.ts"
import { advanceUntil, Recorder, recorderLayer } from "./support.ts"

/** A whole snapshot of the test Recorder in one chunk, from leader 1 in term 1. */
const snapshotOf = (index: number, applied: ReadonlyArray<string>): Envelope => {
  const data = new TextEncoder().encode(JSON.stringify({ lastIndex: index, applied }))
  const message: InstallSnapshot = {
    _tag: "InstallSnapshot",
    term: 1,
    snapshot: { index, term: 1, size: data.length },
    offset: 0,
    data,
    done: true
  }
  return { from: 1, to: 2, message }
}

describe("RaftNode: snapshot installs", () => {
  it.effect("two snapshots installed in one turn: the node keeps running on the newer one", () =>
    Effect.gen(function* () {
      const incoming = yield* Queue.unbounded<Envelope>()
      const recorder = new Recorder()
      const deps = Layer.mergeAll(
        storeLayer(new MemoryDisk(), { clusterId: "test", nodeId: 2 }),
        layerUnwired(2, incoming),
        recorderLayer(recorder),
        layerNoop
      )
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(
        nodeLayer({
          raft: { ...defaultConfig(2, [1, 2, 3]), electionTimeoutMin: 5000, electionTimeoutMax: 6000 },
          snapshotThresholdBytes: 1 << 20,
          maxPendingProposals: 100,
          tickMs: 10
        }).pipe(Layer.provide(deps)),
        scope
      )
      const node = Context.get(ctx, RaftNode)
      // Both arrive before the event loop wakes: one batch, one turn.
      yield* Queue.offerAll(incoming, [snapshotOf(5, ["a", "b"]), snapshotOf(9, ["a", "b", "c", "d"])])
      yield* advanceUntil("the newer snapshot applied", () =>
        Effect.map(node.status, (s) => s.appliedIndex === 9)
      )
      const status = yield* node.status
      assert.strictEqual(status.snapshotIndex, 9)
      assert.deepStrictEqual(recorder.applied, ["a", "b", "c", "d"])
      // The event loop still runs: a proposal gets a follower's answer, not NodeStopped.
      const answer = yield* Effect.flip(node.propose(new Uint8Array(1)))
      assert.strictEqual(answer._tag, "NotLeader")
      yield* Scope.close(scope, Exit.void)
    })
  )

  it("restores superseded by a later one in the same turn are dropped; reads move after it", () => {
    const meta = (index: number) => ({ index, term: 1, size: 1 })
    const commands: ReadonlyArray<Command> = [
      { _tag: "RestoreSnapshot", snapshot: meta(5), afterWrite: 1 },
      { _tag: "Apply", firstIndex: 6, entries: [{ term: 1, kind: "noop", data: new Uint8Array(0) }] },
      { _tag: "ReadReady", ids: [1], index: 6 },
      { _tag: "RestoreSnapshot", snapshot: meta(9), afterWrite: 2 },
      { _tag: "Apply", firstIndex: 10, entries: [{ term: 1, kind: "noop", data: new Uint8Array(0) }] }
    ]
    assert.deepStrictEqual(
      supersededRestoresDropped(commands).map((c) => c._tag),
      ["RestoreSnapshot", "ReadReady", "Apply"]
    )
    const kept = supersededRestoresDropped(commands)[0]
    assert.strictEqual(kept?._tag === "RestoreSnapshot" ? kept.snapshot.index : 0, 9)
    const single = commands.slice(3)
    assert.strictEqual(supersededRestoresDropped(single), single)
  })

  it("before a turn's disk write run only applies of entries already durable, and read outcomes", () => {
    const noop = { term: 1, kind: "noop" as const, data: new Uint8Array(0) }
    const apply = (firstIndex: number, n: number): Command => ({
      _tag: "Apply",
      firstIndex,
      entries: Array.from({ length: n }, () => noop)
    })
    const commands: ReadonlyArray<Command> = [
      apply(4, 2),
      { _tag: "ReadReady", ids: [1], index: 5 },
      { _tag: "ReadFailed", ids: [2], reason: "NotLeader", leader: 0 },
      apply(6, 3),
      { _tag: "ReadReady", ids: [3], index: 8 }
    ]
    // Entries 6-8 are durable: everything may run first. Up to 7 only: stop at that apply, and
    // keep the read after it behind it too (the order of the commands never changes).
    assert.strictEqual(durableNow(commands, 8), 5)
    assert.strictEqual(durableNow(commands, 7), 3)
    assert.strictEqual(durableNow(commands, 3), 0)
    // A restore may read the snapshot this write completes: it and what follows wait.
    const restore: Command = {
      _tag: "RestoreSnapshot",
      snapshot: { index: 9, term: 1, size: 1 },
      afterWrite: 1
    }
    assert.strictEqual(durableNow([apply(4, 1), restore, apply(10, 1)], 100), 1)
  })
})
