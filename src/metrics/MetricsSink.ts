/**
 * The `MetricsSink` service: what a node's runtime reports at key points of its life. The pure
 * core knows nothing of metrics; the runtime derives every figure from the core's events, commands
 * and state. Calls are synchronous and cheap: they happen on the event loop.
 *
 * Layers: `layerNoop` here; Prometheus and in-memory layers live beside it.
 */
import { Context, Layer } from "effect"
import type { RaftState } from "../core/state.ts"
import type { NodeId, Persist, PersistSnapshotChunk, Role, SnapshotMeta } from "../core/types.ts"

export interface MetricsSinkShape {
  /** The node's role, term or known leader changed. */
  readonly roleChanged: (role: Role, term: number, leader: NodeId) => void
  /** One synced write batch (group commit) completed after `seconds`. */
  readonly persisted: (writes: ReadonlyArray<Persist | PersistSnapshotChunk>, seconds: number) => void
  /** Entries up to `lastIndex` (`count` of them) were applied to the state machine. */
  readonly applied: (lastIndex: number, count: number) => void
  /** A local snapshot was written. */
  readonly snapshotCreated: (meta: SnapshotMeta, seconds: number) => void
  /** The state machine was restored from a snapshot (at start-up or after an install). */
  readonly snapshotRestored: (meta: SnapshotMeta, seconds: number) => void
  /** One loop turn ended: it handled `batch` inputs, `queued` are waiting, and this is the state. */
  readonly turn: (batch: number, queued: number, state: RaftState) => void
}

/** Where a node reports its metrics. */
export class MetricsSink extends Context.Service<MetricsSink, MetricsSinkShape>()("raftkv/MetricsSink") {}

const noop = (): void => {}

/** Reports nothing. */
export const layerNoop: Layer.Layer<MetricsSink> = Layer.succeed(MetricsSink, {
  roleChanged: noop,
  persisted: noop,
  applied: noop,
  snapshotCreated: noop,
  snapshotRestored: noop,
  turn: noop
})
