/** Errors a node's clients can see. All are tagged; the retryable ones say so. */
import { Schema } from "effect"

/** This node is not the leader; `leader` is the one it knows (0 if none). Retry there. */
export class NotLeader extends Schema.TaggedError<NotLeader>()("NotLeader", {
  leader: Schema.Number
}) {}

/** The leader is handing over leadership and accepts no proposals for now. Retry shortly. */
export class TransferInProgress extends Schema.TaggedError<TransferInProgress>()("TransferInProgress", {
  leader: Schema.Number
}) {}

/** The proposal was appended but overwritten by another leader's entry: it was not applied. */
export class ProposalLost extends Schema.TaggedError<ProposalLost>()("ProposalLost", {
  index: Schema.Number
}) {}

/** The proposal may or may not have been applied (it was covered by a snapshot installed from the
 * leader before its outcome was seen here). Retrying with the same session sequence is safe. */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>()("OutcomeUnknown", {
  index: Schema.Number
}) {}

/** Too many proposals are waiting; back off and retry. */
export class Busy extends Schema.TaggedError<Busy>()("Busy", {
  pending: Schema.Number
}) {}

/** A linearizable read could not be confirmed (no leader, or leadership changed). Retry. */
export class ReadNotConfirmed extends Schema.TaggedError<ReadNotConfirmed>()("ReadNotConfirmed", {
  reason: Schema.String,
  leader: Schema.Number
}) {}

/** The node is shutting down or its loop stopped. */
export class NodeStopped extends Schema.TaggedError<NodeStopped>()("NodeStopped", {
  reason: Schema.String
}) {}

/** A snapshot could not be restored (truncated or corrupt). */
export class SnapshotRestoreError extends Schema.TaggedError<SnapshotRestoreError>()("SnapshotRestoreError", {
  message: Schema.String
}) {}

export type ProposeError = NotLeader | TransferInProgress | ProposalLost | OutcomeUnknown | Busy | NodeStopped
export type ReadError = ReadNotConfirmed | NodeStopped
