/**
 * The client <-> node protocol: its calls, their payloads and answers (Effect Schemas, which also
 * document the fields) and its tagged errors. How they travel is in `client-wire.ts`: a compact
 * hand-written binary format with request ids, so many calls are in flight on one connection and
 * answered in any order.
 *
 * Why not effect/rpc, which this protocol used first: at 20 closed-loop clients the RPC layer
 * (its envelopes, SchemaBinary and a fiber or two per call on each side) was about a third of the
 * load generator's CPU and a tenth of the leader's, on a 2-core machine where CPU per operation is
 * what bounds throughput. The hand-written format does the same job (ids, pipelining, typed errors,
 * validation of every frame at the boundary) with one fiber per call on the server and none in
 * the client's connection.
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
import { type Effect, Schema } from "effect"
import * as Result from "effect/Result"
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

export type GetRequest = typeof GetRequest.Type
export type GetResponse = typeof GetResponse.Type
export type PutRequest = typeof PutRequest.Type
export type PutResponse = typeof PutResponse.Type
export type DeleteRequest = typeof DeleteRequest.Type
export type DeleteResponse = typeof DeleteResponse.Type
export type OpenSessionResponse = typeof OpenSessionResponse.Type
export type CloseSessionRequest = typeof CloseSessionRequest.Type
export type CloseSessionResponse = typeof CloseSessionResponse.Type
export type NodeStatus = typeof NodeStatus.Type

// ---------------------------------------------------------------------------------------------
// The calls
// ---------------------------------------------------------------------------------------------

/** Why the leader could not take a proposal; all retryable with the same session and seq. */
export type ProposalError = NotLeader | Busy | LeadershipLost
export type GetError = NotLeader | ReadNotConfirmed | Busy | KeyTooLarge
export type PutError =
  | ProposalError
  | VersionMismatch
  | SessionExpired
  | StaleSequence
  | KeyTooLarge
  | ValueTooLarge
export type DeleteError = ProposalError | VersionMismatch | SessionExpired | StaleSequence | KeyTooLarge

/**
 * The calls a node serves on its client port. The server implements it with `X = never`; a
 * client connection with `X` = its connection failure. `Status` is served by any node from its
 * local state and never fails. The wire format is in `client-wire.ts`.
 */
export interface KvApi<X = never> {
  readonly Get: (request: GetRequest) => Effect.Effect<GetResponse, GetError | X>
  readonly Put: (request: PutRequest) => Effect.Effect<PutResponse, PutError | X>
  readonly Delete: (request: DeleteRequest) => Effect.Effect<DeleteResponse, DeleteError | X>
  readonly OpenSession: () => Effect.Effect<OpenSessionResponse, ProposalError | X>
  readonly CloseSession: (
    request: CloseSessionRequest
  ) => Effect.Effect<CloseSessionResponse, ProposalError | X>
  readonly Status: () => Effect.Effect<NodeStatus, X>
}

/** The names of the calls. */
export type Method = keyof KvApi

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
export const putOutcome = (r: ApplyResult): Result.Result<PutResponse, PutError> => {
  if (r._tag === "Written") return Result.succeed({ version: r.version })
  return Result.fail(writeError(r, "Put"))
}

/** The answer to a Delete from the result of applying its entry (see {@link putOutcome}). */
export const deleteOutcome = (r: ApplyResult): Result.Result<DeleteResponse, DeleteError> => {
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
