import { type Ctx, emit, send, sendAfterDurable, update } from "./context.ts"
import * as Log from "./log.ts"
import { majorityIndex } from "./quorum.ts"
import { oweRound } from "./replication.ts"
import type { ConfirmedRead, PendingRead } from "./state.ts"
import { NONE, type NodeId, type ReadFailReason } from "./types.ts"

/**
 * ReadIndex (dissertation 6.4): linearizable reads without writing to the log.
 * 1. The leader takes its commit index as the read index - once it has committed an entry of its
 *    own term, so that index is known to include every earlier committed write.
 * 2. It confirms it is still leader: a heartbeat round, started after the read arrived, answered
 *    by a majority. Reads arriving together share one round.
 * 3. The read runs once the state machine has applied through the read index.
 * Followers forward reads to the leader for step 1-2 and do step 3 themselves.
 */

const fail = (ctx: Ctx, ids: ReadonlyArray<number>, reason: ReadFailReason): void => {
  if (ids.length > 0) emit(ctx, { _tag: "ReadFailed", ids, reason, leader: ctx.state.leader })
}

/** Has this leader committed an entry of its own term (6.4 step 1)? */
const committedInTerm = (ctx: Ctx): boolean =>
  Log.termAt(ctx.state.log, ctx.state.commitIndex) === ctx.state.term

/** Reads whose round a majority has acknowledged get the current commit index as read index.
 * Called whenever a leader's acknowledged rounds or commit index advance. */
export const confirmReads = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.pendingReads.length === 0 || !committedInTerm(ctx)) return
  const rounds = [s.round]
  for (const pr of s.progress.values()) rounds.push(pr.round)
  const confirmed = majorityIndex(rounds)
  const still: PendingRead[] = []
  const local: ConfirmedRead[] = []
  for (const r of s.pendingReads) {
    if (r.round > confirmed) still.push(r)
    else if (r.from === s.config.id) local.push({ ids: r.ids, index: s.commitIndex })
    else send(ctx, r.from, { _tag: "ReadIndexResponse", term: s.term, ids: r.ids, index: s.commitIndex })
  }
  update(ctx, { pendingReads: still, confirmedReads: [...s.confirmedReads, ...local] })
  serveConfirmedReads(ctx)
}

/** Leader: register reads (from this node or a follower) and start a heartbeat round for them,
 * announced by the AppendEntries of this step or else by heartbeats when the step ends. */
export const readAtLeader = (ctx: Ctx, from: NodeId, ids: ReadonlyArray<number>): void => {
  const s = ctx.state
  const round = s.round + 1
  update(ctx, { round, pendingReads: [...s.pendingReads, { from, ids, round }] })
  oweRound(ctx)
  confirmReads(ctx)
}

/** A local read request, on any role. */
export const readRequested = (ctx: Ctx, ids: ReadonlyArray<number>): void => {
  const s = ctx.state
  if (s.role === "leader") return readAtLeader(ctx, s.config.id, ids)
  if (s.role !== "follower" || s.leader === NONE) return fail(ctx, ids, "NoLeader")
  send(ctx, s.leader, { _tag: "ReadIndexRequest", term: s.term, ids })
  update(ctx, { forwardedReads: [...s.forwardedReads, { ids, at: ctx.now }] })
}

/** Follower: the leader answered forwarded reads (index NONE: it could not confirm them). */
export const readIndexAnswered = (ctx: Ctx, ids: ReadonlyArray<number>, index: number): void => {
  const s = ctx.state
  const answered = new Set(ids)
  const forwardedReads = s.forwardedReads
    .map((f) => ({ ...f, ids: f.ids.filter((id) => !answered.has(id)) }))
    .filter((f) => f.ids.length > 0)
  update(ctx, { forwardedReads })
  if (index === NONE) return fail(ctx, ids, "LeadershipLost")
  update(ctx, { confirmedReads: [...ctx.state.confirmedReads, { ids, index }] })
  serveConfirmedReads(ctx)
}

/** Reads whose index the state machine has reached may run now. */
export const serveConfirmedReads = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.confirmedReads.length === 0) return
  const waiting: ConfirmedRead[] = []
  for (const r of s.confirmedReads) {
    if (r.index <= s.appliedIndex) emit(ctx, { _tag: "ReadReady", ids: r.ids, index: r.index })
    else waiting.push(r)
  }
  if (waiting.length !== s.confirmedReads.length) update(ctx, { confirmedReads: waiting })
}

/** A leader stepping down fails the reads it had not confirmed (never answers them stale). */
export const failLeaderReads = (ctx: Ctx): void => {
  const s = ctx.state
  for (const r of s.pendingReads) {
    if (r.from === s.config.id) fail(ctx, r.ids, "LeadershipLost")
    else sendAfterDurable(ctx, r.from, { _tag: "ReadIndexResponse", term: s.term, ids: r.ids, index: NONE })
  }
  update(ctx, { pendingReads: [] })
}

/** A follower whose leader changed fails the reads it forwarded to the old one. */
export const failForwardedReads = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.forwardedReads.length === 0) return
  fail(
    ctx,
    s.forwardedReads.flatMap((f) => f.ids),
    "LeadershipLost"
  )
  update(ctx, { forwardedReads: [] })
}

/** Forwarded reads unanswered for an election timeout fail (the request or answer was lost). */
export const expireForwardedReads = (ctx: Ctx): void => {
  const s = ctx.state
  const limit = ctx.now - s.config.electionTimeoutMin
  const expired = s.forwardedReads.filter((f) => f.at <= limit)
  if (expired.length === 0) return
  update(ctx, { forwardedReads: s.forwardedReads.filter((f) => f.at > limit) })
  fail(
    ctx,
    expired.flatMap((f) => f.ids),
    "LeadershipLost"
  )
}

/** When the earliest forwarded read expires (Infinity if none). */
export const forwardedReadsDeadline = (ctx: Ctx): number => {
  const first = ctx.state.forwardedReads[0]
  return first === undefined ? Number.POSITIVE_INFINITY : first.at + ctx.state.config.electionTimeoutMin
}
