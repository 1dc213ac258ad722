import type { RaftConfig } from "./config.ts"
import type { RaftLog } from "./log.ts"
import type { NodeId, Role, SnapshotMeta } from "./types.ts"

/** What the leader knows of one follower's log (dissertation 10.2.2, etcd's Progress). */
export interface Progress {
  /** Highest index known to match the leader's log on that follower (durably). */
  readonly match: number
  /** Next index to send. Invariant: match < next. */
  readonly next: number
  /**
   * probe: the follower's position is unknown; at most one AppendEntries is in flight and
   *   `next` backs off on rejection.
   * replicate: the follower is in sync; entries stream optimistically (`next` advances on send)
   *   within the in-flight window.
   * snapshot: the follower needs a snapshot; entries wait until the transfer ends.
   */
  readonly mode: "probe" | "replicate" | "snapshot"
  /** Replicate mode: un-acknowledged messages, oldest first, by last index and bytes. */
  readonly inflight: ReadonlyArray<Inflight>
  readonly inflightBytes: number
  /** Probe mode: a probe is out and unanswered (cleared by the next heartbeat, so loss heals). */
  readonly probeSent: boolean
  /** Heard from since the last CheckQuorum round (dissertation 6.2). */
  readonly recentActive: boolean
  /** Highest heartbeat round this follower has acknowledged (ReadIndex, dissertation 6.4). */
  readonly round: number
  /** Snapshot mode: the transfer in progress. */
  readonly snapshot: SnapshotTransfer | undefined
  /** When the last check for lost appends was sent (at most one per heartbeat interval). */
  readonly gapCheckAt: number
}

export interface Inflight {
  readonly lastIndex: number
  readonly bytes: number
}

/** A snapshot being sent to a follower in chunks (dissertation 5.3). */
export interface SnapshotTransfer {
  readonly meta: SnapshotMeta
  /** Bytes the follower acknowledged durably. */
  readonly acked: number
  /** When the last chunk was sent (a chunk unanswered for a heartbeat interval is resent). */
  readonly sentAt: number
}

/** Reads waiting for leadership confirmation on the leader (dissertation 6.4). */
export interface PendingRead {
  /** Who asked: this node (ids are local) or a follower (ids are the follower's). */
  readonly from: NodeId
  readonly ids: ReadonlyArray<number>
  /** The heartbeat round whose majority acknowledgement confirms leadership for this read. */
  readonly round: number
}

/** Reads with a confirmed read index, waiting for the local state machine to catch up. */
export interface ConfirmedRead {
  readonly ids: ReadonlyArray<number>
  readonly index: number
}

/** A durable write that has been issued but not yet reported durable. */
export interface PendingWrite {
  readonly writeId: number
  /** The log's last index and term once this write is durable. */
  readonly lastIndex: number
  readonly lastTerm: number
}

/** A snapshot being received from the leader (dissertation 5.3). */
export interface IncomingSnapshot {
  readonly meta: SnapshotMeta
  /** Bytes written so far (issued writes; durability is tracked by writeId). */
  readonly received: number
}

/**
 * The complete state of one Raft node. Immutable: `step` returns a new state.
 * Each field states its invariant.
 */
export interface RaftState {
  readonly config: RaftConfig

  // --- persistent (paper Figure 2); `term` and `vote` are durable before anything depends on them
  /** Latest term seen; never decreases. */
  readonly term: number
  /** Who got our vote in `term` (NONE if nobody); at most one per term (Election Safety). */
  readonly vote: NodeId
  /** The log after the latest snapshot; `log.prevIndex/prevTerm` is that snapshot's end. */
  readonly log: RaftLog
  /** The latest durable local snapshot, if any (its end equals log.prevIndex after compaction). */
  readonly snapshot: SnapshotMeta | undefined

  // --- volatile
  readonly role: Role
  /** The leader of `term` as far as we know (NONE if unknown). */
  readonly leader: NodeId
  /** Highest index known committed; never decreases; <= the last index we hold or the snapshot. */
  readonly commitIndex: number
  /** Highest index handed to the state machine (Apply or RestoreSnapshot); <= commitIndex. */
  readonly appliedIndex: number

  // --- durability bookkeeping
  /** Next writeId to issue; writes become durable in writeId order. */
  readonly nextWriteId: number
  /** Writes issued and not yet reported durable, oldest first. */
  readonly pendingWrites: ReadonlyArray<PendingWrite>
  /** Highest log index known durable locally (a leader counts itself toward commit only up to
   * here, dissertation 10.2.1). */
  readonly durableIndex: number

  // --- timers (absolute times in the events' clock)
  /** When a follower/candidate starts an election (randomized at every reset, paper 5.2). */
  readonly electionDeadline: number
  /** When a leader next sends heartbeats and runs its CheckQuorum round. */
  readonly heartbeatDeadline: number
  /** When a leader next checks that it heard from a majority (CheckQuorum, 6.2). */
  readonly quorumDeadline: number
  /** Last time we heard from a current leader (PreVote/vote lease check, 9.6/4.2.3). */
  readonly leaderContactAt: number
  /** The deadline last requested with SetTimer (avoids re-emitting identical timers). */
  readonly timerAt: number

  // --- elections
  /** Votes received in the current (pre-)election, by voter. */
  readonly votes: ReadonlyMap<NodeId, boolean>

  // --- leader
  /** Per-follower replication progress (leader only; empty otherwise). */
  readonly progress: ReadonlyMap<NodeId, Progress>
  /** Current heartbeat round (leader only); increases when a round is started for reads. */
  readonly round: number
  /** Reads waiting for a confirmed heartbeat round (leader only). */
  readonly pendingReads: ReadonlyArray<PendingRead>
  /** Leadership transfer in progress (leader only): target and abort deadline. */
  readonly transfer: { readonly to: NodeId; readonly deadline: number } | undefined

  // --- follower
  /** Reads with a read index, waiting for appliedIndex to reach it. */
  readonly confirmedReads: ReadonlyArray<ConfirmedRead>
  /** Reads forwarded to the leader, awaiting its ReadIndexResponse; they fail if none arrives
   * within an election timeout of `at`. */
  readonly forwardedReads: ReadonlyArray<{ readonly ids: ReadonlyArray<number>; readonly at: number }>
  /** A snapshot being received. */
  readonly incomingSnapshot: IncomingSnapshot | undefined
}
