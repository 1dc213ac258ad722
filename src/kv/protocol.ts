/**
 * The client <-> node protocol, as an effect/rpc `RpcGroup` of Effect Schemas.
 *
 * Why an RpcGroup: it gives request ids and pipelining (many calls in flight on one connection,
 * answered in any order) and typed error channels for free; with
 * `RpcSerialization.layerSchemaBinary()` the frames are compact, length-framed and validated at
 * the boundary, and the RPC layer answers a malformed frame without involving our code. Measured
 * in EFFECT4-NOTES: ~30k small calls/s with 64 in flight over TCP between two processes, with
 * `disableTracing: true` (tracing halves it) - ample for a client API. Server:
 * `RpcServer.layer(KvRpcs, { disableTracing: true })` + `RpcServer.layerProtocolSocketServer` +
 * `RpcSerialization.layerSchemaBinary()`; client: `RpcClient.make(KvRpcs)` +
 * `RpcClient.layerProtocolSocket()`. The default 16 MiB frame limit is above the largest request
 * (a 1 MiB value plus a 4 KiB key).
 *
 * Retry guide (for the SDK):
 * - NotLeader, Busy, LeadershipLost, ReadNotConfirmed: retryable. A write retried after any of
 *   them (or after a lost connection) must reuse its session and seq: the state machine applies a
 *   (session, seq) at most once and answers a retry with the original result.
 * - SessionExpired: the session is gone; open a new one. If an earlier attempt of this write may
 *   have reached the log, its outcome is unknown.
 * - StaleSequence: a late duplicate of a write whose result the client already acknowledged.
 * - VersionMismatch, KeyTooLarge, ValueTooLarge: final answers.
 * - Timeout: raised by the client only; the write may or may not have happened.
 */
import { Schema } from "effect"
import * as Result from "effect/Result"
import { Rpc, RpcGroup } from "effect/rpc"
import type { ApplyResult, KeyTooLargeResult, ValueTooLargeResult } from "./results.ts"

/** Non-negative integer (indices, versions, sessions, sequence numbers). */
const Uint = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** This node is not the leader. `leaderHint` is the leader's client address (host:port), when
 * known. Retry there. */
export class NotLeader extends Schema.TaggedError<NotLeader>()("NotLeader", {
  leaderHint: Schema.optionalKey(Schema.String)
}) {}

/** The leader has too many proposals pending; retry after a backoff. */
export class Busy extends Schema.TaggedError<Busy>()("Busy", {}) {}

/** The leader lost leadership before the write was committed; its fate is unknown to this node.
 * Retry (same session and seq) with the new leader. */
export class LeadershipLost extends Schema.TaggedError<LeadershipLost>()("LeadershipLost", {
  leaderHint: Schema.optionalKey(Schema.String)
}) {}

/** A linearizable read could not be confirmed (leadership not confirmed, or lost). Retryable;
 * never answered from possibly stale state. */
export class ReadNotConfirmed extends Schema.TaggedError<ReadNotConfirmed>()("ReadNotConfirmed", {
  reason: Schema.Literals(["NotLeader", "LeadershipLost", "NoLeader"]),
  leaderHint: Schema.optionalKey(Schema.String)
}) {}

/** A conditional write found another version; nothing changed. */
export class VersionMismatch extends Schema.TaggedError<VersionMismatch>()("VersionMismatch", {
  currentVersion: Uint
}) {}

/** The session expired (idle longer than the configured time, in log time), was evicted or
 * closed. Open a new session. */
export class SessionExpired extends Schema.TaggedError<SessionExpired>()("SessionExpired", {
  session: Uint
}) {}

/** The seq is older than what the session remembers (already acknowledged by the client, or
 * pushed out of its result window). Nothing changed. */
export class StaleSequence extends Schema.TaggedError<StaleSequence>()("StaleSequence", {
  session: Uint,
  seq: Uint
}) {}

export class KeyTooLarge extends Schema.TaggedError<KeyTooLarge>()("KeyTooLarge", {
  size: Uint,
  limit: Uint
}) {}

export class ValueTooLarge extends Schema.TaggedError<ValueTooLarge>()("ValueTooLarge", {
  size: Uint,
  limit: Uint
}) {}

/** Client side only: no answer within the call's timeout. A write may or may not have happened
 * (unless a later retry with the same seq completes it). */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  afterMs: Uint
}) {}

// ---------------------------------------------------------------------------------------------
// Payloads and successes
// ---------------------------------------------------------------------------------------------

export const Consistency = Schema.Literals(["linearizable", "stale"])
export type Consistency = typeof Consistency.Type

export const GetRequest = Schema.Struct({ key: Schema.Uint8Array, consistency: Consistency })

export const Found = Schema.Struct({ value: Schema.Uint8Array, version: Uint })

/**
 * `entry` is null for an absent key. `appliedIndex` is the serving node's applied index when it
 * read, `commitIndex` the highest commit index it knew: for a stale read the result reflects the
 * log up to `appliedIndex`, and may miss at least the entries up to `commitIndex`.
 */
export const GetResponse = Schema.Struct({
  entry: Schema.NullOr(Found),
  appliedIndex: Uint,
  commitIndex: Uint
})

/** Fields of every write: the client's session, the write's seq (>= 1, unique in the session,
 * reused by retries) and `ack` (the client holds the results of every seq <= ack). */
const WriteFields = {
  session: Uint,
  seq: Uint,
  ack: Uint,
  key: Schema.Uint8Array,
  /** Write only if the key's current version equals this (0 = only if absent). */
  expectedVersion: Schema.optionalKey(Uint)
}

export const PutRequest = Schema.Struct({ ...WriteFields, value: Schema.Uint8Array })
export const PutResponse = Schema.Struct({ version: Uint })
export const DeleteRequest = Schema.Struct(WriteFields)
export const DeleteResponse = Schema.Struct({ deleted: Schema.Boolean })
export const OpenSessionResponse = Schema.Struct({ session: Uint })
export const CloseSessionRequest = Schema.Struct({ session: Uint })
export const CloseSessionResponse = Schema.Struct({ closed: Schema.Boolean })

/** What `raftkv status` shows for one node. */
export const NodeStatus = Schema.Struct({
  id: Uint,
  role: Schema.Literals(["leader", "follower", "candidate", "precandidate"]),
  term: Uint,
  leader: Schema.NullOr(Uint),
  commitIndex: Uint,
  appliedIndex: Uint
})

const ProposalErrors = [NotLeader, Busy, LeadershipLost] as const

// ---------------------------------------------------------------------------------------------
// The group
// ---------------------------------------------------------------------------------------------

export const Get = Rpc.make("Get", {
  payload: GetRequest,
  success: GetResponse,
  error: Schema.Union([NotLeader, ReadNotConfirmed, Busy, KeyTooLarge])
})

export const Put = Rpc.make("Put", {
  payload: PutRequest,
  success: PutResponse,
  error: Schema.Union([
    ...ProposalErrors,
    VersionMismatch,
    SessionExpired,
    StaleSequence,
    KeyTooLarge,
    ValueTooLarge
  ])
})

export const Delete = Rpc.make("Delete", {
  payload: DeleteRequest,
  success: DeleteResponse,
  error: Schema.Union([...ProposalErrors, VersionMismatch, SessionExpired, StaleSequence, KeyTooLarge])
})

export const OpenSession = Rpc.make("OpenSession", {
  success: OpenSessionResponse,
  error: Schema.Union(ProposalErrors)
})

export const CloseSession = Rpc.make("CloseSession", {
  payload: CloseSessionRequest,
  success: CloseSessionResponse,
  error: Schema.Union(ProposalErrors)
})

/** Served by any node from its local state, never fails. */
export const Status = Rpc.make("Status", { success: NodeStatus })

export class KvRpcs extends RpcGroup.make(Get, Put, Delete, OpenSession, CloseSession, Status) {}

export type PutError = typeof Put.errorSchema.Type
export type DeleteError = typeof Delete.errorSchema.Type

// ---------------------------------------------------------------------------------------------
// From state machine results to protocol answers
// ---------------------------------------------------------------------------------------------

/** The protocol error for a limit the port or apply found broken. */
export const limitError = (r: KeyTooLargeResult | ValueTooLargeResult): KeyTooLarge | ValueTooLarge =>
  r._tag === "KeyTooLarge"
    ? new KeyTooLarge({ size: r.size, limit: r.limit })
    : new ValueTooLarge({ size: r.size, limit: r.limit })

/**
 * The answer to a Put from the result of applying its entry. A result that cannot belong to a
 * Put (the node mixed up its proposals) is a defect: it throws.
 */
export const putOutcome = (r: ApplyResult): Result.Result<typeof PutResponse.Type, PutError> => {
  if (r._tag === "Written") return Result.succeed({ version: r.version })
  return Result.fail(writeError(r, "Put"))
}

/** The answer to a Delete from the result of applying its entry (see {@link putOutcome}). */
export const deleteOutcome = (r: ApplyResult): Result.Result<typeof DeleteResponse.Type, DeleteError> => {
  if (r._tag === "Deleted") return Result.succeed({ deleted: r.deleted })
  const error = writeError(r, "Delete")
  if (error._tag === "ValueTooLarge") throw unexpected(r, "Delete")
  return Result.fail(error)
}

const writeError = (r: ApplyResult, op: string): PutError => {
  switch (r._tag) {
    case "VersionMismatch":
      return new VersionMismatch({ currentVersion: r.currentVersion })
    case "SessionExpired":
      return new SessionExpired({ session: r.session })
    case "StaleSequence":
      return new StaleSequence({ session: r.session, seq: r.seq })
    case "KeyTooLarge":
    case "ValueTooLarge":
      return limitError(r)
    default:
      throw unexpected(r, op)
  }
}

const unexpected = (r: ApplyResult, op: string): Error =>
  new Error(`KV: apply result ${r._tag} cannot answer a ${op} (proposal bookkeeping bug)`)
