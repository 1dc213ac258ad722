import type { RaftConfig } from "./config.ts"
import { type Ctx, emit, finish, makeCtx, sendAfterDurable, update, writeLog } from "./context.ts"
import { handleRequestVote, handleVoteResponse } from "./election.ts"
import * as Log from "./log.ts"
import { quorum } from "./quorum.ts"
import {
  expireForwardedReads,
  forwardedReadsDeadline,
  readAtLeader,
  readIndexAnswered,
  readRequested
} from "./read-index.ts"
import {
  broadcastAppend,
  broadcastHeartbeat,
  followLeader,
  handleAppendEntries,
  handleAppendResponse,
  maybeCommit,
  payOwedRound
} from "./replication.ts"
import { becomeCandidate, becomeFollower, campaign, resetElectionTimer } from "./roles.ts"
import {
  handleInstallSnapshot,
  handleSnapshotResponse,
  resendStalledChunks,
  snapshotTaken
} from "./snapshot.ts"
import type { RaftState } from "./state.ts"
import { abortStaleTransfer, transferLeadership } from "./transfer.ts"
import {
  type Command,
  type Entry,
  type Event,
  type HardState,
  type Message,
  NONE,
  type NodeId,
  type SnapshotMeta
} from "./types.ts"

/** What a node recovered from durable storage at start-up. */
export interface Restored {
  readonly hardState: HardState
  /** The latest durable snapshot, if any. */
  readonly snapshot: SnapshotMeta | undefined
  /** The log entries after the snapshot (or from index 1), in order. */
  readonly entries: ReadonlyArray<Entry>
}

export interface StepResult {
  readonly state: RaftState
  readonly commands: ReadonlyArray<Command>
}

/**
 * A node (re)starting from what it recovered: a follower that knows no leader, with everything
 * up to its snapshot committed and applied (the state machine is restored from the snapshot).
 */
export const initial = (config: RaftConfig, restored: Restored, now: number, random: number): StepResult => {
  const snap = restored.snapshot
  const log = Log.fromEntries(snap?.index ?? 0, snap?.term ?? 0, restored.entries)
  const state: RaftState = {
    config,
    term: restored.hardState.term,
    vote: restored.hardState.vote,
    log,
    snapshot: snap,
    role: "follower",
    leader: NONE,
    commitIndex: snap?.index ?? 0,
    appliedIndex: snap?.index ?? 0,
    nextWriteId: 1,
    pendingWrites: [],
    durableIndex: Log.lastIndex(log),
    electionDeadline: 0,
    heartbeatDeadline: 0,
    quorumDeadline: 0,
    leaderContactAt: Number.NEGATIVE_INFINITY,
    timerAt: Number.NaN,
    votes: new Map(),
    progress: new Map(),
    round: 0,
    pendingReads: [],
    transfer: undefined,
    confirmedReads: [],
    forwardedReads: [],
    incomingSnapshot: undefined
  }
  const ctx = makeCtx(state, now, random)
  if (snap !== undefined) emit(ctx, { _tag: "RestoreSnapshot", snapshot: snap, afterWrite: undefined })
  resetElectionTimer(ctx)
  // A single-node cluster needs nobody's vote: it campaigns at its first timeout like any other.
  return close(ctx)
}

/** Advance one node by one event. Pure: the input state is never modified. */
export const step = (state: RaftState, event: Event): StepResult => {
  const ctx = makeCtx(state, event.now, event.random)
  switch (event._tag) {
    case "Tick":
      onTick(ctx)
      break
    case "Receive":
      onReceive(ctx, event.from, event.message)
      break
    case "Propose":
      // Reads first: their round then rides on the proposal's AppendEntries.
      if (event.reads !== undefined && event.reads.length > 0) readRequested(ctx, event.reads)
      onPropose(ctx, event.id, event.data)
      break
    case "Persisted":
      onPersisted(ctx, event.writeId)
      break
    case "SnapshotTaken":
      snapshotTaken(ctx, event.index, event.size)
      break
    case "ReadIndex":
      readRequested(ctx, event.ids)
      break
    case "TransferLeadership":
      transferLeadership(ctx, event.to)
      break
  }
  return close(ctx)
}

/** Request the next Tick at the earliest deadline of the current role. */
const nextWake = (ctx: Ctx): number => {
  const s = ctx.state
  if (s.role === "leader") {
    return Math.min(s.heartbeatDeadline, s.quorumDeadline, s.transfer?.deadline ?? Number.POSITIVE_INFINITY)
  }
  return Math.min(s.electionDeadline, forwardedReadsDeadline(ctx))
}

const close = (ctx: Ctx): StepResult => {
  payOwedRound(ctx)
  const at = nextWake(ctx)
  if (at !== ctx.state.timerAt) {
    emit(ctx, { _tag: "SetTimer", at })
    update(ctx, { timerAt: at })
  }
  const commands = finish(ctx)
  return { state: ctx.state, commands }
}

/** CheckQuorum (dissertation 6.2): a leader that has not heard from a majority within an election
 * timeout steps down, so a partitioned leader stops serving (and stops blocking reads). */
const checkQuorum = (ctx: Ctx): void => {
  const s = ctx.state
  let active = 1
  for (const pr of s.progress.values()) if (pr.recentActive) active++
  if (active < quorum(s.config.members.length)) {
    becomeFollower(ctx, s.term, NONE)
    return
  }
  const progress = new Map(s.progress)
  for (const [id, pr] of progress) progress.set(id, { ...pr, recentActive: false })
  update(ctx, { progress, quorumDeadline: ctx.now + s.config.electionTimeoutMin })
}

const onTick = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.role === "leader") {
    if (ctx.now >= s.quorumDeadline) {
      if (s.config.checkQuorum) checkQuorum(ctx)
      else update(ctx, { quorumDeadline: ctx.now + s.config.electionTimeoutMin })
      if (ctx.state.role !== "leader") return
    }
    abortStaleTransfer(ctx)
    if (ctx.now >= ctx.state.heartbeatDeadline) {
      broadcastHeartbeat(ctx)
      resendStalledChunks(ctx)
    }
    return
  }
  expireForwardedReads(ctx)
  if (ctx.now >= s.electionDeadline) campaign(ctx)
}

const onPropose = (ctx: Ctx, id: number, data: ReadonlyArray<Uint8Array>): void => {
  const s = ctx.state
  if (s.role !== "leader") {
    emit(ctx, { _tag: "ProposalDropped", id, reason: "NotLeader", leader: s.leader })
    return
  }
  if (s.transfer !== undefined) {
    emit(ctx, { _tag: "ProposalDropped", id, reason: "TransferInProgress", leader: s.leader })
    return
  }
  const firstIndex = Log.lastIndex(s.log) + 1
  const entries: Entry[] = data.map((d) => ({ term: s.term, kind: "command", data: d }))
  writeLog(ctx, firstIndex, entries)
  emit(ctx, { _tag: "Proposed", id, firstIndex, term: s.term })
  // The leader sends before its own write is durable (dissertation 10.2.1); it counts itself
  // toward commitment only once it is (see maybeCommit).
  broadcastAppend(ctx)
  maybeCommit(ctx)
}

/** Writes up to `writeId` are durable: advance the durable index when the log still holds what
 * was written (a later truncation makes an older write's tail irrelevant). */
const onPersisted = (ctx: Ctx, writeId: number): void => {
  const s = ctx.state
  let k = 0
  while (k < s.pendingWrites.length && s.pendingWrites[k]!.writeId <= writeId) k++
  if (k === 0) return
  const last = s.pendingWrites[k - 1]!
  const durableIndex =
    Log.termAt(s.log, last.lastIndex) === last.lastTerm
      ? Math.max(s.durableIndex, last.lastIndex)
      : s.durableIndex
  update(ctx, { pendingWrites: s.pendingWrites.slice(k), durableIndex })
  maybeCommit(ctx)
}

/** Does `m` come from the leader of its term (AppendEntries, InstallSnapshot, TimeoutNow)? */
const fromLeader = (m: Message): boolean =>
  m._tag === "AppendEntries" || m._tag === "InstallSnapshot" || m._tag === "TimeoutNow"

const onReceive = (ctx: Ctx, from: NodeId, m: Message): void => {
  const s = ctx.state
  if (from === s.config.id || !s.config.members.includes(from)) return
  if (m._tag === "RequestVote") return handleRequestVote(ctx, from, m)
  if (m.term > s.term) {
    // Paper 5.1: a newer term makes us a follower - except a granted PreVote, which carries the
    // term we *would* have (9.6) and is counted below.
    const futureVote = m._tag === "RequestVoteResponse" && m.preVote && m.granted
    if (!futureVote) becomeFollower(ctx, m.term, fromLeader(m) ? from : NONE)
  } else if (m.term < s.term) {
    // A stale leader learns our term and steps down (otherwise, with CheckQuorum, a node whose
    // term ran ahead could never rejoin: etcd issues 8243/9586).
    if (m._tag === "AppendEntries" || m._tag === "InstallSnapshot") {
      sendAfterDurable(ctx, from, {
        _tag: "AppendEntriesResponse",
        term: s.term,
        success: false,
        index: 0,
        conflictTerm: 0,
        conflictIndex: 0,
        round: 0
      })
    }
    return
  }
  dispatch(ctx, from, m)
}

/** Handle a message of our own term (or a granted PreVote for our next one). */
const dispatch = (ctx: Ctx, from: NodeId, m: Message): void => {
  const s = ctx.state
  switch (m._tag) {
    case "RequestVoteResponse":
      return handleVoteResponse(ctx, from, m)
    case "AppendEntries":
      // Another leader of our own term cannot exist (Election Safety); never act on one.
      if (s.role === "leader") return
      followLeader(ctx, from, m.term)
      return handleAppendEntries(ctx, from, m)
    case "AppendEntriesResponse":
      if (s.role === "leader") handleAppendResponse(ctx, from, m)
      return
    case "InstallSnapshot":
      if (s.role === "leader") return
      followLeader(ctx, from, m.term)
      return handleInstallSnapshot(ctx, from, m)
    case "InstallSnapshotResponse":
      if (s.role === "leader") handleSnapshotResponse(ctx, from, m)
      return
    case "TimeoutNow":
      // The leader hands over (3.10): campaign now, without PreVote.
      if (s.role === "follower" && s.leader === from) becomeCandidate(ctx, true)
      return
    case "ReadIndexRequest":
      if (s.role === "leader") readAtLeader(ctx, from, m.ids)
      else sendAfterDurable(ctx, from, { _tag: "ReadIndexResponse", term: s.term, ids: m.ids, index: NONE })
      return
    case "ReadIndexResponse":
      if (s.role === "follower" && s.leader === from) readIndexAnswered(ctx, m.ids, m.index)
      return
    case "RequestVote":
      return handleRequestVote(ctx, from, m)
  }
}
