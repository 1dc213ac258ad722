/**
 * The `Transport` service: how a node's runtime sends Raft messages to peers and receives theirs.
 *
 * Two layers provide it: TCP (`tcp.ts`, real nodes) and memory (`memory.ts`, several nodes in one
 * process, with fault hooks for tests). Both give the same guarantees:
 * - `send` never waits: it hands the envelope to a bounded per-peer buffer and returns. When a
 *   buffer is full the oldest waiting frame is dropped and counted (Raft tolerates loss).
 * - Messages from one sender to one receiver arrive in the order they were sent, or not at all
 *   (across a reconnect, frames in flight may be lost).
 * - Everything received is validated: what comes out of `incoming` satisfies the core's types and
 *   was addressed to this node by a member of its cluster.
 */
import { Context, type Effect, type Queue } from "effect"
import type { Envelope, NodeId } from "../core/types.ts"

/**
 * Why a frame was refused or dropped. Counted per reason in {@link TransportStats}.
 * - `oversized`: an inbound length prefix above `maxFrameBytes` (connection closed), or an
 *   outbound message whose frame would exceed it (dropped, never sent).
 * - `malformed`: an inbound frame that does not decode or validate (connection closed), or an
 *   outbound message that fails validation (a bug upstream; dropped).
 * - `wrong-cluster`: an inbound frame of another cluster id (connection closed).
 * - `wrong-recipient`: an inbound frame addressed to another node id (frame dropped).
 * - `unknown-sender`: an inbound frame from a node id that is not a peer (frame dropped).
 * - `queue-full`: a bounded queue was full, so the oldest waiting frame was dropped.
 * - `unreachable`: no route to the destination (not a configured peer; in the memory network, a
 *   stopped or partitioned node), so the frame was dropped at once.
 */
export type RejectReason =
  | "oversized"
  | "malformed"
  | "wrong-cluster"
  | "wrong-recipient"
  | "unknown-sender"
  | "queue-full"
  | "unreachable"

/** Every {@link RejectReason}, in a fixed order (handy for metrics). */
export const rejectReasons: ReadonlyArray<RejectReason> = [
  "oversized",
  "malformed",
  "wrong-cluster",
  "wrong-recipient",
  "unknown-sender",
  "queue-full",
  "unreachable"
]

/** A snapshot of a transport's counters (monotonic since the transport started, except `queued`). */
export interface TransportStats {
  readonly rejected: Readonly<Record<RejectReason, number>>
  /** Frames handed to a peer connection (TCP) or delivered to a peer's inbox (memory). */
  readonly sent: number
  /** Envelopes accepted into `incoming`. */
  readonly received: number
  /** Frames currently waiting in outbound queues, all peers together (bounded). */
  readonly queued: number
  /** Estimated bytes of those frames (bounded). */
  readonly queuedBytes: number
  /** Outbound connections established so far (TCP; the memory layer reports 0). */
  readonly connects: number
}

export interface TransportShape {
  /** The node this transport belongs to. */
  readonly self: NodeId
  /**
   * Queues `envelope` for `envelope.to` and returns at once (never blocks, never fails). The
   * frame carries this transport's cluster id and `self` as sender.
   */
  readonly send: (envelope: Envelope) => Effect.Effect<void>
  /**
   * Received envelopes, validated, in arrival order (per sender: in send order). A bounded queue:
   * the runtime drains it, e.g. `Queue.take` for one or `Queue.takeAll` for a batch. When the
   * runtime falls behind, TCP readers wait (TCP pushes back to the senders, whose queues then
   * drop); the memory network drops and counts `queue-full`. Shut down when the layer closes:
   * a pending or later take is then interrupted.
   */
  readonly incoming: Queue.Dequeue<Envelope>
  /** Current counters. */
  readonly stats: Effect.Effect<TransportStats>
}

/** The peer transport of a node. */
export class Transport extends Context.Service<Transport, TransportShape>()("raftkv/Transport") {}
