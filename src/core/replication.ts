import { type Ctx, emit, send, sendAfterDurable, setProgress, update, writeLog } from "./context.ts"
import * as Log from "./log.ts"
import { acknowledged, canSendEntries, sentEntries, toProbe } from "./progress.ts"
import { majorityIndex } from "./quorum.ts"
import { confirmReads, serveConfirmedReads } from "./read-index.ts"
import { becomeFollower, resetElectionTimer } from "./roles.ts"
import { startSnapshotTransfer } from "./snapshot.ts"
import { maybeSendTimeoutNow } from "./transfer.ts"
import type { Progress } from "./state.ts"
import type { AppendEntries, AppendEntriesResponse, Entry, NodeId } from "./types.ts"

/** Send an AppendEntries (it carries the current heartbeat round, so `to` is owed no heartbeat). */
const sendAppendEntries = (ctx: Ctx, to: NodeId, message: AppendEntries): void => {
  send(ctx, to, message)
  ctx.owedRound?.delete(to)
}

/** Entries from `from` on, bounded by the per-message limits (at least one entry if any). */
const entriesToSend = (ctx: Ctx, from: number): { entries: Entry[]; bytes: number } => {
  const { log, config } = ctx.state
  const last = Math.min(Log.lastIndex(log), from + config.maxEntriesPerMessage - 1)
  const entries: Entry[] = []
  let bytes = 0
  for (let i = from; i <= last; i++) {
    const e = Log.entryAt(log, i)!
    const size = Log.entryBytes(e)
    if (entries.length > 0 && bytes + size > config.maxBytesPerMessage) break
    entries.push(e)
    bytes += size
  }
  return { entries, bytes }
}

/**
 * Send `to` the entries it lacks (paper 5.3), as the follower's mode allows (10.2.2): one probe at
 * a time while its position is unknown, a window of pipelined messages once it is in sync. A
 * follower that needs compacted entries gets the snapshot instead (paper 7).
 * Returns whether a message was sent.
 */
export const sendAppend = (ctx: Ctx, to: NodeId): boolean => {
  const s = ctx.state
  const pr = s.progress.get(to)
  if (pr === undefined) return false
  if (!canSendEntries(pr, s.config.maxInflightMessages, s.config.maxInflightBytes)) return false
  const prevLogIndex = pr.next - 1
  const prevLogTerm = Log.termAt(s.log, prevLogIndex)
  if (prevLogTerm === undefined) {
    startSnapshotTransfer(ctx, to)
    return true
  }
  const { entries, bytes } = entriesToSend(ctx, pr.next)
  // In replicate mode there is nothing to say without entries (heartbeats keep the lease).
  if (entries.length === 0 && pr.mode === "replicate") return false
  const message: AppendEntries = {
    _tag: "AppendEntries",
    term: s.term,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: s.commitIndex,
    round: s.round
  }
  sendAppendEntries(ctx, to, message)
  setProgress(ctx, to, sentEntries(pr, prevLogIndex + entries.length, bytes))
  return true
}

/**
 * In replicate mode entries are streamed optimistically, so a lost message would otherwise only
 * be noticed when the next entries arrive - never, if no more come. When an answer teaches the
 * leader nothing while the follower still lacks entries, it sends an empty AppendEntries anchored
 * at `next - 1`, outside the in-flight window: it travels behind everything already sent on that
 * link, so a follower that rejects it really lost something, and the rejection moves it back to
 * probe (as etcd does on heartbeat responses). At most one per heartbeat interval per follower:
 * under load most answers teach nothing new, and answers to checks must not breed more checks.
 */
const maybeCheckGap = (ctx: Ctx, to: NodeId, pr: Progress): void => {
  const s = ctx.state
  if (pr.mode !== "replicate" || pr.match >= Log.lastIndex(s.log)) return
  if (ctx.now - pr.gapCheckAt < s.config.heartbeatInterval) return
  const prevLogTerm = Log.termAt(s.log, pr.next - 1)
  if (prevLogTerm === undefined) return startSnapshotTransfer(ctx, to)
  setProgress(ctx, to, { ...pr, gapCheckAt: ctx.now })
  sendAppendEntries(ctx, to, {
    _tag: "AppendEntries",
    term: s.term,
    prevLogIndex: pr.next - 1,
    prevLogTerm,
    entries: [],
    leaderCommit: Math.min(s.commitIndex, pr.match),
    round: s.round
  })
}

/** Replicate new entries to every follower that can take them now. */
export const broadcastAppend = (ctx: Ctx): void => {
  for (const id of ctx.state.progress.keys()) fillPipe(ctx, id)
}

/** Send `to` as many messages as its mode and in-flight window allow now (10.2.2): one probe, or
 * in replicate mode the whole backlog up to the window. */
const fillPipe = (ctx: Ctx, to: NodeId): void => {
  while (sendAppend(ctx, to)) {
    const p = ctx.state.progress.get(to)!
    if (p.mode !== "replicate" || p.next > Log.lastIndex(ctx.state.log)) break
  }
}

/**
 * Heartbeats (paper 5.2) carry no entries and are anchored at what the follower is known to hold
 * (`match`), so they never fail the consistency check for entries still in flight; the commit index
 * they carry is capped at `match` for the same reason. They also carry the current heartbeat round
 * (ReadIndex, dissertation 6.4) and clear a stalled probe so a lost probe is resent.
 */
export const broadcastHeartbeat = (ctx: Ctx): void => {
  const s = ctx.state
  update(ctx, { heartbeatDeadline: ctx.now + s.config.heartbeatInterval })
  for (const [id, pr] of s.progress) heartbeatTo(ctx, id, pr)
}

const heartbeatTo = (ctx: Ctx, id: NodeId, pr: Progress): void => {
  const s = ctx.state
  const anchor = Math.max(pr.match, s.log.prevIndex)
  sendAppendEntries(ctx, id, {
    _tag: "AppendEntries",
    term: s.term,
    prevLogIndex: anchor,
    prevLogTerm: Log.termAt(s.log, anchor)!,
    entries: [],
    leaderCommit: Math.min(s.commitIndex, pr.match),
    round: s.round
  })
  if (pr.mode === "probe" && pr.probeSent) setProgress(ctx, id, { ...pr, probeSent: false })
}

/** A read round started (dissertation 6.4): every follower is owed a message carrying it. The
 * AppendEntries sent later in the same step carry it too; the rest get heartbeats at its end. */
export const oweRound = (ctx: Ctx): void => {
  ctx.owedRound = new Set(ctx.state.progress.keys())
}

/** At the end of a step: heartbeats to the followers still owed the current round. */
export const payOwedRound = (ctx: Ctx): void => {
  const owed = ctx.owedRound
  ctx.owedRound = undefined
  if (owed === undefined || owed.size === 0 || ctx.state.role !== "leader") return
  const s = ctx.state
  if (owed.size === s.progress.size) return broadcastHeartbeat(ctx)
  for (const id of owed) {
    const pr = s.progress.get(id)
    if (pr !== undefined) heartbeatTo(ctx, id, pr)
  }
}

/** Hand newly committed entries to the state machine, in order, and serve reads now covered. */
export const maybeApply = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.commitIndex > s.appliedIndex) {
    const firstIndex = s.appliedIndex + 1
    const entries = Log.slice(s.log, firstIndex, s.commitIndex)
    if (entries.length > 0) {
      emit(ctx, { _tag: "Apply", firstIndex, entries })
      update(ctx, { appliedIndex: firstIndex + entries.length - 1 })
    }
  }
  serveConfirmedReads(ctx)
}

const advanceCommit = (ctx: Ctx, index: number): void => {
  if (index <= ctx.state.commitIndex) return
  update(ctx, { commitIndex: index })
  maybeApply(ctx)
}

/**
 * Leader: commit the highest index a majority holds durably (paper 5.3) - but only an entry of the
 * current term is committed by counting; earlier ones follow it (5.4.2, Figure 8). The leader
 * counts itself only up to its own durable index (dissertation 10.2.1).
 */
export const maybeCommit = (ctx: Ctx): void => {
  const s = ctx.state
  if (s.role !== "leader") return
  const matched = [Math.min(s.durableIndex, Log.lastIndex(s.log))]
  for (const pr of s.progress.values()) matched.push(pr.match)
  const index = majorityIndex(matched)
  if (index > s.commitIndex && Log.termAt(s.log, index) === s.term) {
    advanceCommit(ctx, index)
    confirmReads(ctx)
  }
}

const reply = (ctx: Ctx, to: NodeId, m: Omit<AppendEntriesResponse, "_tag" | "term">): void => {
  const response: AppendEntriesResponse = { _tag: "AppendEntriesResponse", term: ctx.state.term, ...m }
  // An acknowledgement reports log contents, and every reply our term: it must not leave before
  // they are durable.
  sendAfterDurable(ctx, to, response)
}

/** Follower side of AppendEntries (paper 5.3, Figure 2 "Receiver implementation"). The caller
 * has already checked the term and recognised the sender as leader. */
export const handleAppendEntries = (ctx: Ctx, from: NodeId, m: AppendEntries): void => {
  resetElectionTimer(ctx)
  update(ctx, { leaderContactAt: ctx.now })
  const s = ctx.state
  const round = m.round
  if (m.prevLogIndex < s.commitIndex) {
    // Already committed here: whatever it carries up to our commit index we hold (Log Matching).
    // Acknowledge our commit index so the leader skips ahead; the rest is resent from there.
    reply(ctx, from, { success: true, index: s.commitIndex, conflictTerm: 0, conflictIndex: 0, round })
    return
  }
  if (!Log.matches(s.log, m.prevLogIndex, m.prevLogTerm)) {
    // Rejection with a hint (dissertation 3.5): our term at prevLogIndex and where it starts.
    const conflictTerm = Log.termAt(s.log, m.prevLogIndex) ?? 0
    const conflictIndex =
      conflictTerm === 0 ? Log.lastIndex(s.log) + 1 : Log.firstIndexOfTerm(s.log, m.prevLogIndex)
    reply(ctx, from, { success: false, index: m.prevLogIndex, conflictTerm, conflictIndex, round })
    return
  }
  // Skip entries we already hold; truncate at the first conflict and append the rest (5.3 step 3-4).
  let k = 0
  while (k < m.entries.length) {
    const index = m.prevLogIndex + 1 + k
    if (Log.termAt(ctx.state.log, index) !== m.entries[k]!.term) break
    k++
  }
  if (k < m.entries.length) writeLog(ctx, m.prevLogIndex + 1 + k, m.entries.slice(k))
  const lastNew = m.prevLogIndex + m.entries.length
  advanceCommit(ctx, Math.min(m.leaderCommit, lastNew))
  reply(ctx, from, { success: true, index: lastNew, conflictTerm: 0, conflictIndex: 0, round })
}

/** Where to probe next after a rejection (dissertation 3.5): past the follower's conflicting term
 * if we hold entries of it, else at the first index of that term on the follower. */
const nextAfterRejection = (ctx: Ctx, m: AppendEntriesResponse): number => {
  const log = ctx.state.log
  if (m.conflictTerm === 0) return m.conflictIndex
  const k = Log.lastIndexAtOrBelowTerm(log, m.index, m.conflictTerm)
  return Log.termAt(log, k) === m.conflictTerm ? k + 1 : m.conflictIndex
}

/** Leader side of AppendEntries responses. The caller has handled higher terms. */
export const handleAppendResponse = (ctx: Ctx, from: NodeId, m: AppendEntriesResponse): void => {
  const s = ctx.state
  const pr0 = s.progress.get(from)
  if (pr0 === undefined) return
  let pr: Progress = { ...pr0, recentActive: true, round: Math.max(pr0.round, m.round) }
  const roundAcked = pr.round > pr0.round
  if (m.success) {
    const before = pr.match
    pr = acknowledged(pr, m.index)
    if (pr.mode === "probe" && pr.probeSent && m.index <= before) pr = { ...pr, probeSent: false }
    setProgress(ctx, from, pr)
    if (pr.match > before) maybeCommit(ctx)
    // An answer that taught us nothing: what we streamed may have been lost (see maybeCheckGap).
    else maybeCheckGap(ctx, from, pr)
  } else {
    // A rejection is stale if it answers something other than our current probe / window.
    const stale = pr.mode === "replicate" ? m.index <= pr.match : m.index !== pr.next - 1
    if (!stale && pr.mode !== "snapshot") {
      const next = Math.min(nextAfterRejection(ctx, m), m.index)
      pr = toProbe(pr, next)
    }
    setProgress(ctx, from, pr)
  }
  if (roundAcked) confirmReads(ctx)
  if (ctx.state.transfer?.to === from) maybeSendTimeoutNow(ctx)
  fillPipe(ctx, from)
}

/** A message from a node claiming to lead `m.term` >= ours: recognise it (paper 5.2). */
export const followLeader = (ctx: Ctx, from: NodeId, term: number): void => {
  const s = ctx.state
  if (s.role !== "follower" || s.term !== term || s.leader !== from) becomeFollower(ctx, term, from)
}
