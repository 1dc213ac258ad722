import { emit, type Ctx, markHardState, send, sendAfterDurable, update, writeLog } from "./context.ts"
import * as Log from "./log.ts"
import { initialProgress } from "./progress.ts"
import { tally } from "./quorum.ts"
import { failLeaderReads, failForwardedReads } from "./read-index.ts"
import { broadcastAppend } from "./replication.ts"
import type { Progress } from "./state.ts"
import { type Entry, NONE, type NodeId, type Role } from "./types.ts"

const EMPTY = new Uint8Array(0)
const NO_VOTES: ReadonlyMap<NodeId, boolean> = new Map()
const NO_PROGRESS: ReadonlyMap<NodeId, Progress> = new Map()

export const others = (ctx: Ctx): ReadonlyArray<NodeId> => {
  const { id, members } = ctx.state.config
  return members.filter((m) => m !== id)
}

/** Randomized election timeout (paper 5.2): the draw arrives with the event. */
export const resetElectionTimer = (ctx: Ctx): void => {
  const { electionTimeoutMin: min, electionTimeoutMax: max } = ctx.state.config
  update(ctx, { electionDeadline: ctx.now + min + Math.floor(ctx.random * (max - min)) })
}

/** Adopt a newer term (paper 5.1: "If RPC request or response contains term T > currentTerm:
 * set currentTerm = T"), forgetting the vote of the old term. Durable before anything depends on it. */
const adoptTerm = (ctx: Ctx, term: number): void => {
  if (term > ctx.state.term) {
    update(ctx, { term, vote: NONE })
    markHardState(ctx)
  }
}

const setRole = (ctx: Ctx, role: Role, leader: NodeId): void => {
  const before = ctx.state
  update(ctx, { role, leader })
  if (before.role !== role || before.leader !== leader || before.term !== ctx.state.term) {
    emit(ctx, { _tag: "RoleChanged", role, term: ctx.state.term, leader })
  }
}

/** Become (or stay) a follower of `leader` (NONE if unknown) in `term` (paper 5.1, 5.2). */
export const becomeFollower = (ctx: Ctx, term: number, leader: NodeId): void => {
  const before = ctx.state
  adoptTerm(ctx, term)
  setRole(ctx, "follower", leader)
  // Fail the reads the old role could no longer confirm, naming the leader known now (the
  // client's retry hint; never this node, which just lost the lead).
  if (before.role === "leader") failLeaderReads(ctx)
  if (before.term !== ctx.state.term || before.leader !== leader) failForwardedReads(ctx)
  update(ctx, {
    votes: NO_VOTES,
    progress: NO_PROGRESS,
    pendingReads: [],
    transfer: undefined,
    incomingSnapshot: before.term === ctx.state.term ? before.incomingSnapshot : undefined
  })
  if (leader !== NONE) update(ctx, { leaderContactAt: ctx.now })
  resetElectionTimer(ctx)
}

const requestVotes = (ctx: Ctx, preVote: boolean, transfer: boolean): void => {
  const s = ctx.state
  const message = {
    _tag: "RequestVote",
    term: preVote ? s.term + 1 : s.term,
    lastLogIndex: Log.lastIndex(s.log),
    lastLogTerm: Log.lastTerm(s.log),
    preVote,
    transfer
  } as const
  for (const to of others(ctx)) {
    // A real RequestVote counts our own vote, which must be durable first (paper 5.2, Figure 2).
    if (preVote) send(ctx, to, message)
    else sendAfterDurable(ctx, to, message)
  }
}

/**
 * PreVote (dissertation 9.6): ask whether we *could* win in term + 1 before disrupting anyone.
 * Neither our term nor anybody's changes until a majority says yes.
 */
export const becomePreCandidate = (ctx: Ctx): void => {
  update(ctx, { votes: new Map([[ctx.state.config.id, true]]) })
  setRole(ctx, "precandidate", NONE)
  failForwardedReads(ctx)
  resetElectionTimer(ctx)
  requestVotes(ctx, true, false)
  countVotes(ctx)
}

/** Start a real election (paper 5.2): new term, vote for self, ask everyone. `transfer` marks an
 * election triggered by TimeoutNow, which voters must not refuse for lease reasons (3.10). */
export const becomeCandidate = (ctx: Ctx, transfer = false): void => {
  update(ctx, {
    term: ctx.state.term + 1,
    vote: ctx.state.config.id,
    votes: new Map([[ctx.state.config.id, true]])
  })
  markHardState(ctx)
  setRole(ctx, "candidate", NONE)
  failForwardedReads(ctx)
  resetElectionTimer(ctx)
  requestVotes(ctx, false, transfer)
  countVotes(ctx)
}

/** Start an election the way the configuration says: through PreVote when enabled. */
export const campaign = (ctx: Ctx): void => {
  if (ctx.state.config.preVote) becomePreCandidate(ctx)
  else becomeCandidate(ctx)
}

/** Act on the votes counted so far (paper 5.2: "If votes received from majority of servers:
 * become leader"; a majority of refusals ends the attempt). */
export const countVotes = (ctx: Ctx): void => {
  const s = ctx.state
  const result = tally(s.config.members, s.votes)
  if (result === "won") {
    if (s.role === "precandidate") becomeCandidate(ctx)
    else if (s.role === "candidate") becomeLeader(ctx)
  } else if (result === "lost") {
    becomeFollower(ctx, s.term, NONE)
  }
}

/**
 * Win an election (paper 5.2, 5.3): take over replication of every follower, and append a no-op
 * of the new term (paper section 8) so that earlier entries can be committed through it (5.4.2)
 * and reads can be served (dissertation 6.4).
 */
export const becomeLeader = (ctx: Ctx): void => {
  const s = ctx.state
  const last = Log.lastIndex(s.log)
  const progress = new Map<NodeId, Progress>()
  for (const id of others(ctx)) progress.set(id, initialProgress(last))
  update(ctx, {
    votes: NO_VOTES,
    progress,
    round: 0,
    pendingReads: [],
    transfer: undefined,
    incomingSnapshot: undefined,
    heartbeatDeadline: ctx.now + s.config.heartbeatInterval,
    quorumDeadline: ctx.now + s.config.electionTimeoutMin
  })
  setRole(ctx, "leader", s.config.id)
  const noop: Entry = { term: s.term, kind: "noop", data: EMPTY }
  writeLog(ctx, last + 1, [noop])
  broadcastAppend(ctx)
}
