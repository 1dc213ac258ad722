/**
 * Test support for the node runtime: a tiny replicated state machine, and in-process clusters of
 * nodes over the memory transport and memory storage that can be crashed and restarted.
 */
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { defaultConfig } from "../../src/core/config.ts"
import type { Entry, NodeId } from "../../src/core/types.ts"
import { layerNoop, type MetricsSink } from "../../src/metrics/MetricsSink.ts"
import { SnapshotRestoreError } from "../../src/runtime/errors.ts"
import { layer as nodeLayer, RaftNode, type RaftNodeShape } from "../../src/runtime/RaftNode.ts"
import { StateMachine } from "../../src/runtime/StateMachine.ts"
import { layerMemory as storeLayer, MemoryDisk } from "../../src/storage/memory.ts"
import type { Transport } from "../../src/transport/transport.ts"
import {
  layerMemory as transportLayer,
  type MemoryNetwork,
  makeMemoryNetwork
} from "../../src/transport/memory.ts"

/** A state machine that records every applied command (as text) in order; its result is the
 * number of commands applied so far. Snapshots carry the whole list. */
export class Recorder {
  applied: string[] = []
  lastIndex = 0
  apply(index: number, entry: Entry): number {
    if (index !== this.lastIndex + 1) throw new Error(`apply out of order: ${index} after ${this.lastIndex}`)
    this.lastIndex = index
    if (entry.kind === "command") this.applied.push(new TextDecoder().decode(entry.data))
    return this.applied.length
  }
}

export const recorderLayer = (rec: Recorder) =>
  Layer.succeed(StateMachine, {
    apply: (index, entry) => rec.apply(index, entry),
    snapshot: () => {
      const frozen = JSON.stringify({ lastIndex: rec.lastIndex, applied: rec.applied })
      return Stream.make(new TextEncoder().encode(frozen))
    },
    restore: (_meta, chunks) =>
      Stream.runCollect(chunks).pipe(
        Effect.flatMap((parts) =>
          Effect.try({
            try: () => {
              const text = Buffer.concat([...parts]).toString("utf8")
              const parsed = JSON.parse(text) as { lastIndex: number; applied: string[] }
              rec.lastIndex = parsed.lastIndex
              rec.applied = parsed.applied
            },
            catch: (e) => new SnapshotRestoreError({ message: String(e) })
          })
        )
      )
  })

export interface TestNode {
  readonly id: NodeId
  readonly disk: MemoryDisk
  recorder: Recorder
  node: RaftNodeShape | undefined
  scope: Scope.Closeable | undefined
}

export interface TestCluster {
  readonly network: MemoryNetwork
  readonly nodes: ReadonlyArray<TestNode>
  readonly start: (id: NodeId) => Effect.Effect<void, unknown>
  readonly crash: (id: NodeId) => Effect.Effect<void>
  readonly node: (id: NodeId) => RaftNodeShape
  readonly shutdown: Effect.Effect<void>
}

export interface ClusterOptions {
  readonly size?: number
  readonly snapshotThresholdBytes?: number
  /** The MetricsSink of node `id`, built at each (re)start with the node's transport (default: no-op). */
  readonly metrics?: (id: NodeId) => Layer.Layer<MetricsSink, never, Transport>
}

export const makeCluster = (options: ClusterOptions = {}) =>
  Effect.gen(function* () {
    const size = options.size ?? 3
    const ids = Array.from({ length: size }, (_, k) => k + 1)
    const network = makeMemoryNetwork({ serialize: true })
    const nodes: TestNode[] = ids.map((id) => ({
      id,
      disk: new MemoryDisk(),
      recorder: new Recorder(),
      node: undefined,
      scope: undefined
    }))
    const get = (id: NodeId) => nodes.find((n) => n.id === id)!
    const start = (id: NodeId) =>
      Effect.gen(function* () {
        const n = get(id)
        n.recorder = new Recorder()
        const scope = yield* Scope.make()
        const transport = transportLayer({ network, self: id })
        const deps = Layer.mergeAll(
          storeLayer(n.disk, { clusterId: "test", nodeId: id }),
          transport,
          recorderLayer(n.recorder),
          (options.metrics?.(id) ?? layerNoop).pipe(Layer.provide(transport))
        )
        const layer = nodeLayer({
          raft: {
            ...defaultConfig(id, ids),
            electionTimeoutMin: 150,
            electionTimeoutMax: 300,
            heartbeatInterval: 30
          },
          snapshotThresholdBytes: options.snapshotThresholdBytes ?? 4 * 1024 * 1024,
          maxPendingProposals: 10_000,
          tickMs: 10
        }).pipe(Layer.provide(deps))
        const ctx = yield* Layer.buildWithScope(layer, scope)
        n.node = Context.get(ctx, RaftNode)
        n.scope = scope
      })
    const crash = (id: NodeId) =>
      Effect.gen(function* () {
        const n = get(id)
        if (n.scope !== undefined) yield* Scope.close(n.scope, Exit.void)
        n.scope = undefined
        n.node = undefined
      })
    for (const id of ids) yield* start(id)
    const cluster: TestCluster = {
      network,
      nodes,
      start,
      crash,
      node: (id) => get(id).node!,
      shutdown: Effect.forEach(ids, crash, { discard: true })
    }
    return cluster
  })

/** Advance virtual time in small steps until `cond` holds (fails after `maxMs` of virtual time). */
export const advanceUntil = (what: string, cond: () => Effect.Effect<boolean>, maxMs = 10_000) =>
  Effect.gen(function* () {
    for (let t = 0; t <= maxMs; t += 10) {
      if (yield* cond()) return t
      yield* TestClock.adjust("10 millis")
      // Let storage and transport fibers run between clock steps.
      for (let k = 0; k < 5; k++) yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`timed out after ${maxMs} virtual ms waiting for: ${what}`))
  })

/** The current leader, if exactly one running node believes it leads the highest term. */
export const leaderOf = (cluster: TestCluster) =>
  Effect.gen(function* () {
    let best: { id: NodeId; term: number } | undefined
    for (const n of cluster.nodes) {
      if (n.node === undefined) continue
      const s = yield* n.node.status
      if (s.role === "leader" && (best === undefined || s.term > best.term)) best = { id: n.id, term: s.term }
    }
    return best?.id
  })
