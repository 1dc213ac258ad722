/**
 * The `MetricsSink` service: what a node's runtime reports at key points of its life. The pure
 * core knows nothing of metrics; the runtime derives every figure from the core's events, commands
 * and state. Calls are synchronous and cheap: they happen on the event loop, at most once per
 * message, command or turn (never once per log entry), and never run an Effect.
 *
 * Layers: `layerNoop` here; `layerPrometheus` (prometheus.ts) and `layerMemory` (memory.ts).
 * The KV client server reports through the `kv*` methods.
 */
import { Context, Layer } from "effect"
import type { RaftState } from "../core/state.ts"
import type { Message, NodeId, Persist, PersistSnapshotChunk, Role, SnapshotMeta } from "../core/types.ts"

export interface MetricsSinkShape {
  // --- Raft runtime (src/runtime/RaftNode.ts)
  /** The node's role, term or known leader changed (the core's RoleChanged command). */
  readonly roleChanged: (role: Role, term: number, leader: NodeId) => void
  /** The leader appended `count` proposals at `firstIndex ..` (the core's Proposed command). */
  readonly proposed: (firstIndex: number, count: number) => void
  /** The commit index advanced to `commitIndex` (seen right after the step that advanced it). */
  readonly committed: (commitIndex: number) => void
  /** A message left for peer `to`. */
  readonly sent: (to: NodeId, message: Message) => void
  /** A message from peer `from` is being handled by the loop. */
  readonly received: (from: NodeId, message: Message) => void
  /** One synced write batch (group commit) completed after `seconds`. */
  readonly persisted: (writes: ReadonlyArray<Persist | PersistSnapshotChunk>, seconds: number) => void
  /** Entries up to `lastIndex` (`count` of them) were applied to the state machine. */
  readonly applied: (lastIndex: number, count: number) => void
  /** A local snapshot was written. */
  readonly snapshotCreated: (meta: SnapshotMeta, seconds: number) => void
  /** The state machine was restored from a snapshot (at start-up or after an install). */
  readonly snapshotRestored: (meta: SnapshotMeta, seconds: number) => void
  /**
   * One loop turn ended: it handled `batch` inputs, `queued` are waiting, this is the state, and
   * `logBytes` bytes of entries were applied since the last snapshot.
   */
  readonly turn: (batch: number, queued: number, state: RaftState, logBytes: number) => void

  // --- KV client server (src/server)
  /**
   * A client request was answered after `seconds` (server side). `method` is the request kind in
   * snake_case (`get`, `put`, `delete`, ...); `outcome` is `ok` or the error kind in snake_case
   * (`not_leader`, `busy`, `timeout`, ...). Keep both sets small: each pair is a series.
   */
  readonly kvRequest: (method: string, outcome: string, seconds: number) => void
  /** Current KV sizes: keys stored, client sessions tracked, proposals waiting for an outcome. */
  readonly kvGauges: (keys: number, sessions: number, pendingProposals: number) => void
  /**
   * Where the KV sizes live: from now on they are read from `source` when metrics are collected
   * (a scrape), so requests need not report them. A later `kvGauges` report replaces it.
   */
  readonly kvSizes: (source: KvSizesSource) => void
}

/** Readers of the current KV sizes (see {@link MetricsSinkShape.kvSizes}). Cheap and synchronous. */
export interface KvSizesSource {
  /** Keys stored. */
  readonly keys: () => number
  /** Client sessions tracked. */
  readonly sessions: () => number
  /** Client proposals waiting for their outcome. */
  readonly pendingProposals: () => number
}

/** Where a node reports its metrics. */
export class MetricsSink extends Context.Service<MetricsSink, MetricsSinkShape>()("raftkv/MetricsSink") {}

const noop = (): void => {}

/** A sink that ignores everything (also a base for partial sinks). */
export const noopSink: MetricsSinkShape = {
  roleChanged: noop,
  proposed: noop,
  committed: noop,
  sent: noop,
  received: noop,
  persisted: noop,
  applied: noop,
  snapshotCreated: noop,
  snapshotRestored: noop,
  turn: noop,
  kvRequest: noop,
  kvGauges: noop,
  kvSizes: noop
}

/** Reports nothing. */
export const layerNoop: Layer.Layer<MetricsSink> = Layer.succeed(MetricsSink, noopSink)

/** Report every call to both sinks, `a` first. */
export const fanOut = (a: MetricsSinkShape, b: MetricsSinkShape): MetricsSinkShape => ({
  roleChanged: (role, term, leader) => {
    a.roleChanged(role, term, leader)
    b.roleChanged(role, term, leader)
  },
  proposed: (firstIndex, count) => {
    a.proposed(firstIndex, count)
    b.proposed(firstIndex, count)
  },
  committed: (commitIndex) => {
    a.committed(commitIndex)
    b.committed(commitIndex)
  },
  sent: (to, message) => {
    a.sent(to, message)
    b.sent(to, message)
  },
  received: (from, message) => {
    a.received(from, message)
    b.received(from, message)
  },
  persisted: (writes, seconds) => {
    a.persisted(writes, seconds)
    b.persisted(writes, seconds)
  },
  applied: (lastIndex, count) => {
    a.applied(lastIndex, count)
    b.applied(lastIndex, count)
  },
  snapshotCreated: (meta, seconds) => {
    a.snapshotCreated(meta, seconds)
    b.snapshotCreated(meta, seconds)
  },
  snapshotRestored: (meta, seconds) => {
    a.snapshotRestored(meta, seconds)
    b.snapshotRestored(meta, seconds)
  },
  turn: (batch, queued, state, logBytes) => {
    a.turn(batch, queued, state, logBytes)
    b.turn(batch, queued, state, logBytes)
  },
  kvRequest: (method, outcome, seconds) => {
    a.kvRequest(method, outcome, seconds)
    b.kvRequest(method, outcome, seconds)
  },
  kvGauges: (keys, sessions, pending) => {
    a.kvGauges(keys, sessions, pending)
    b.kvGauges(keys, sessions, pending)
  },
  kvSizes: (source) => {
    a.kvSizes(source)
    b.kvSizes(source)
  }
})
