/**
 * The vocabulary of the pure Raft core: log entries, the messages peers exchange, the events the
 * core consumes and the commands it emits.
 *
 * Everything here is plain immutable data (no classes, no Effect), so the same values flow through
 * the real runtime, the deterministic simulator and the unit tests.
 *
 * Indices and terms are JavaScript numbers: exact up to 2^53, far beyond any real log.
 */

/** A node's identity within its cluster (small positive integer, as in `--id 1`). */
export type NodeId = number

/** The term-0 / index-0 sentinel: the empty log "before" index 1. */
export const NONE = 0

/** What an entry carries: a leader's term-start no-op (paper 8), or an opaque client command. */
export type EntryKind = "noop" | "command"

/** One log entry. Its index is implied by its position in the log. */
export interface Entry {
  readonly term: number
  readonly kind: EntryKind
  readonly data: Uint8Array
}

/** The durable per-node state that must survive crashes (paper Figure 2, "Persistent state"). */
export interface HardState {
  /** Latest term this node has seen (monotonically non-decreasing). */
  readonly term: number
  /** Candidate that received this node's vote in `term`, or NONE. */
  readonly vote: NodeId
}

/** Where a snapshot ends: it replaces every entry up to and including `index`. */
export interface SnapshotMeta {
  readonly index: number
  readonly term: number
  /** Size of the snapshot's data in bytes (lets the leader chunk it without reading it). */
  readonly size: number
}

// ---------------------------------------------------------------------------------------------
// Messages between peers (paper Figure 2, dissertation 3.5, 4, 5, 6.4, 9.6)
// ---------------------------------------------------------------------------------------------

/** RequestVote (paper 5.2), also used for PreVote (dissertation 9.6) with `preVote: true`. */
export interface RequestVote {
  readonly _tag: "RequestVote"
  /** For a PreVote this is the term the candidate *would* use (its term + 1); nobody adopts it. */
  readonly term: number
  readonly lastLogIndex: number
  readonly lastLogTerm: number
  readonly preVote: boolean
  /** Set when the election was triggered by TimeoutNow (leadership transfer, dissertation 3.10):
   * voters then skip the "I heard from a leader recently" lease check. */
  readonly transfer: boolean
}

export interface RequestVoteResponse {
  readonly _tag: "RequestVoteResponse"
  readonly term: number
  readonly granted: boolean
  readonly preVote: boolean
}

/** AppendEntries (paper 5.3); with no entries it is a heartbeat. */
export interface AppendEntries {
  readonly _tag: "AppendEntries"
  readonly term: number
  readonly prevLogIndex: number
  readonly prevLogTerm: number
  readonly entries: ReadonlyArray<Entry>
  readonly leaderCommit: number
  /** Heartbeat round this message belongs to, echoed back; confirms leadership for ReadIndex
   * (dissertation 6.4). 0 when the message is not part of a confirmation round. */
  readonly round: number
}

export interface AppendEntriesResponse {
  readonly _tag: "AppendEntriesResponse"
  readonly term: number
  readonly success: boolean
  /** On success: the index of the last entry the follower now holds that matches the leader
   * (prevLogIndex + entries.length). On failure: the prevLogIndex that was rejected. */
  readonly index: number
  /** On failure, fast backtracking (dissertation 3.5): the term of the follower's conflicting entry
   * at the rejected index (NONE if its log is shorter) and the first index it holds for that term
   * (or its last index + 1 when its log is shorter). */
  readonly conflictTerm: number
  readonly conflictIndex: number
  readonly round: number
}

/** One chunk of a snapshot (dissertation Figure 5.3). */
export interface InstallSnapshot {
  readonly _tag: "InstallSnapshot"
  readonly term: number
  readonly snapshot: SnapshotMeta
  readonly offset: number
  readonly data: Uint8Array
  readonly done: boolean
}

export interface InstallSnapshotResponse {
  readonly _tag: "InstallSnapshotResponse"
  readonly term: number
  /** Which snapshot this acknowledges. */
  readonly snapshotIndex: number
  /** Bytes of that snapshot the follower holds durably, in order (the next offset it expects). */
  readonly nextOffset: number
  /** True once the whole snapshot is installed. */
  readonly done: boolean
}

/** Sent by a leader transferring leadership (dissertation 3.10): "start an election now". */
export interface TimeoutNow {
  readonly _tag: "TimeoutNow"
  readonly term: number
}

/** A follower asks the leader for a read index on behalf of its own pending reads (6.4). */
export interface ReadIndexRequest {
  readonly _tag: "ReadIndexRequest"
  readonly term: number
  readonly ids: ReadonlyArray<number>
}

export interface ReadIndexResponse {
  readonly _tag: "ReadIndexResponse"
  readonly term: number
  readonly ids: ReadonlyArray<number>
  /** The confirmed read index, or NONE when the leader could not serve it (the reads fail). */
  readonly index: number
}

export type Message =
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | InstallSnapshot
  | InstallSnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse

/** A message on the wire between two nodes. */
export interface Envelope {
  readonly from: NodeId
  readonly to: NodeId
  readonly message: Message
}

// ---------------------------------------------------------------------------------------------
// Events: everything that happens to a node. Time and randomness arrive here, never from inside.
// ---------------------------------------------------------------------------------------------

/** Fields every event carries. */
export interface EventBase {
  /** Monotonic time in milliseconds (real or virtual). */
  readonly now: number
  /** A uniform draw in [0, 1), used when the event resets the randomized election timeout. */
  readonly random: number
}

/** Time passed: the runtime delivers one when the deadline of a `SetTimer` command is reached. */
export interface Tick extends EventBase {
  readonly _tag: "Tick"
}

export interface Receive extends EventBase {
  readonly _tag: "Receive"
  readonly from: NodeId
  readonly message: Message
}

/** A client wants commands appended. `id` is the runtime's, echoed in Proposed/ProposalDropped. */
export interface Propose extends EventBase {
  readonly _tag: "Propose"
  readonly id: number
  readonly data: ReadonlyArray<Uint8Array>
  /**
   * Linearizable reads that arrived with the proposal (the same loop turn). They are handled
   * first, as a ReadIndex event would be, so their heartbeat round rides on the proposal's
   * AppendEntries: followers that get entries need no separate heartbeat.
   */
  readonly reads?: ReadonlyArray<number>
}

/** Writes up to and including `writeId` are durable (writes complete in order). */
export interface Persisted extends EventBase {
  readonly _tag: "Persisted"
  readonly writeId: number
}

/** The state machine saved a snapshot of its state through `index` (dissertation 5.1). */
export interface SnapshotTaken extends EventBase {
  readonly _tag: "SnapshotTaken"
  readonly index: number
  readonly size: number
}

/** Linearizable reads want a read index (dissertation 6.4). The runtime batches the reads that
 * arrived in one loop turn into one event, so they share one heartbeat round. */
export interface ReadIndex extends EventBase {
  readonly _tag: "ReadIndex"
  readonly ids: ReadonlyArray<number>
}

/** Ask the leader to hand leadership to `to` (dissertation 3.10). */
export interface TransferLeadership extends EventBase {
  readonly _tag: "TransferLeadership"
  readonly to: NodeId
}

export type Event = Tick | Receive | Propose | Persisted | SnapshotTaken | ReadIndex | TransferLeadership

// ---------------------------------------------------------------------------------------------
// Commands: what must happen as a result of an event. The runtime interprets them in order.
// ---------------------------------------------------------------------------------------------

/**
 * A durable write. The runtime may group several into one synced batch, but must make them
 * durable in `writeId` order and report completion with a `Persisted` event.
 */
export interface Persist {
  readonly _tag: "Persist"
  readonly writeId: number
  /** New term/vote, when they changed. */
  readonly hardState: HardState | undefined
  /** Write `entries` at indices `from`, `from + 1`, ...; first delete every entry at >= `from`. */
  readonly log: { readonly from: number; readonly entries: ReadonlyArray<Entry> } | undefined
}

/** Send a message to a peer. With `afterWrite`, only once that write (and all before it) is
 * durable: a vote or an append acknowledgement must never leave before the state it reports. */
export interface Send {
  readonly _tag: "Send"
  readonly to: NodeId
  readonly message: Message
  readonly afterWrite: number | undefined
}

/** Deliver a Tick at time `at` (replaces any earlier request). */
export interface SetTimer {
  readonly _tag: "SetTimer"
  readonly at: number
}

/** Apply committed entries `firstIndex ..` in order to the state machine. */
export interface Apply {
  readonly _tag: "Apply"
  readonly firstIndex: number
  readonly entries: ReadonlyArray<Entry>
}

/** A proposal was appended at `firstIndex ..` in `term` (the client learns its outcome on Apply
 * of those indices: if an entry with another term is applied there, the proposal was lost). */
export interface Proposed {
  readonly _tag: "Proposed"
  readonly id: number
  readonly firstIndex: number
  readonly term: number
}

export type DropReason = "NotLeader" | "TransferInProgress"

/** A proposal was not accepted; `leader` is the known leader (NONE if unknown). */
export interface ProposalDropped {
  readonly _tag: "ProposalDropped"
  readonly id: number
  readonly reason: DropReason
  readonly leader: NodeId
}

/** These reads may run once the local state machine has applied through `index`. */
export interface ReadReady {
  readonly _tag: "ReadReady"
  readonly ids: ReadonlyArray<number>
  readonly index: number
}

export type ReadFailReason = "NotLeader" | "LeadershipLost" | "NoLeader"

/** These reads could not be confirmed; they must fail (retryably), never be served stale. */
export interface ReadFailed {
  readonly _tag: "ReadFailed"
  readonly ids: ReadonlyArray<number>
  readonly reason: ReadFailReason
  readonly leader: NodeId
}

/** Discard log entries up to and including `upTo` (they are covered by the snapshot). */
export interface CompactLog {
  readonly _tag: "CompactLog"
  readonly upTo: number
}

/** Read `[offset, offset + length)` of the local snapshot `snapshot` and send it to `to` as an
 * InstallSnapshot message with the given `term` and `done`. */
export interface SendSnapshotChunk {
  readonly _tag: "SendSnapshotChunk"
  readonly to: NodeId
  readonly term: number
  readonly snapshot: SnapshotMeta
  readonly offset: number
  readonly length: number
  readonly done: boolean
}

/** Store a received snapshot chunk durably (part of the write sequence: completion is reported
 * by `Persisted { writeId }`). When `done`, the received snapshot becomes the node's snapshot, and
 * the log is replaced: entries up to `snapshot.index` are dropped, and when `keepLog` is false
 * every entry is dropped. */
export interface PersistSnapshotChunk {
  readonly _tag: "PersistSnapshotChunk"
  readonly writeId: number
  readonly snapshot: SnapshotMeta
  readonly offset: number
  readonly data: Uint8Array
  readonly done: boolean
  readonly keepLog: boolean
}

/**
 * Replace the state machine's state with the snapshot `snapshot`, once write `afterWrite` (the one
 * that installed it) is durable. State-machine commands (Apply, RestoreSnapshot, ReadReady) run in
 * the order emitted, so Applies and reads after this one wait behind it.
 */
export interface RestoreSnapshot {
  readonly _tag: "RestoreSnapshot"
  readonly snapshot: SnapshotMeta
  readonly afterWrite: number | undefined
}

/** The node's role or known leader changed, or it took a role anew in a later term (for logs,
 * metrics and status). A follower that only adopts a newer term, still knowing no leader, emits
 * none: the term is in every state the runtime observes. */
export interface RoleChanged {
  readonly _tag: "RoleChanged"
  readonly role: Role
  readonly term: number
  readonly leader: NodeId
}

export type Command =
  | Persist
  | Send
  | SetTimer
  | Apply
  | Proposed
  | ProposalDropped
  | ReadReady
  | ReadFailed
  | CompactLog
  | SendSnapshotChunk
  | PersistSnapshotChunk
  | RestoreSnapshot
  | RoleChanged

export type Role = "follower" | "precandidate" | "candidate" | "leader"
