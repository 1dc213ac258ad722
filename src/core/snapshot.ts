import {
  allocateWrite,
  type Ctx,
  emit,
  flushPersist,
  sendAfterDurable,
  setProgress,
  update
} from "./context.ts"
import * as Log from "./log.ts"
import { toProbe } from "./progress.ts"
import { maybeApply, sendAppend } from "./replication.ts"
import { resetElectionTimer } from "./roles.ts"
import type { InstallSnapshot, InstallSnapshotResponse, NodeId, SnapshotMeta } from "./types.ts"

/**
 * Snapshots and log compaction (paper 7, dissertation 5): the state machine snapshots itself, the
 * log before the snapshot is discarded, and followers that need discarded entries receive the
 * snapshot in chunks (dissertation Figure 5.3), one outstanding chunk at a time.
 */

const sendChunk = (ctx: Ctx, to: NodeId, meta: SnapshotMeta, offset: number): void => {
  const length = Math.min(ctx.state.config.snapshotChunkBytes, meta.size - offset)
  emit(ctx, {
    _tag: "SendSnapshotChunk",
    to,
    term: ctx.state.term,
    snapshot: meta,
    offset,
    length,
    done: offset + length >= meta.size
  })
}

/** Leader: `to` needs entries we compacted away; send our latest snapshot from its start. */
export const startSnapshotTransfer = (ctx: Ctx, to: NodeId): void => {
  const s = ctx.state
  const meta = s.snapshot
  const pr = s.progress.get(to)
  if (meta === undefined || pr === undefined) throw new Error("snapshot transfer without a snapshot")
  setProgress(ctx, to, {
    ...pr,
    mode: "snapshot",
    inflight: [],
    inflightBytes: 0,
    probeSent: false,
    snapshot: { meta, acked: 0, sentAt: ctx.now }
  })
  sendChunk(ctx, to, meta, 0)
}

/** Leader: a follower acknowledged (part of) a snapshot. */
export const handleSnapshotResponse = (ctx: Ctx, from: NodeId, m: InstallSnapshotResponse): void => {
  const pr0 = ctx.state.progress.get(from)
  if (pr0 === undefined) return
  const pr = { ...pr0, recentActive: true }
  const transfer = pr.snapshot
  if (pr.mode !== "snapshot" || transfer === undefined || m.snapshotIndex !== transfer.meta.index) {
    return setProgress(ctx, from, pr)
  }
  if (m.done) {
    // The follower's log now starts after the snapshot: replicate from there.
    const index = transfer.meta.index
    setProgress(ctx, from, toProbe({ ...pr, match: Math.max(pr.match, index) }, index + 1))
    sendAppend(ctx, from)
    return
  }
  // The chunk at `acked` is always on its way (or resent when the transfer stalls): a repeat of
  // that acknowledgement - from a duplicated chunk or reply - must not send it again, or every
  // later chunk would travel twice. Any other offset (ahead, or back after a restart) is news.
  if (m.nextOffset === transfer.acked) return setProgress(ctx, from, pr)
  setProgress(ctx, from, { ...pr, snapshot: { ...transfer, acked: m.nextOffset, sentAt: ctx.now } })
  sendChunk(ctx, from, transfer.meta, m.nextOffset)
}

/** Leader, on heartbeat: resend the outstanding chunk of transfers that went quiet (a lost chunk
 * or acknowledgement). */
export const resendStalledChunks = (ctx: Ctx): void => {
  const s = ctx.state
  for (const [id, pr] of s.progress) {
    const t = pr.snapshot
    if (pr.mode !== "snapshot" || t === undefined || ctx.now - t.sentAt < s.config.heartbeatInterval) continue
    setProgress(ctx, id, { ...pr, snapshot: { ...t, sentAt: ctx.now } })
    sendChunk(ctx, id, t.meta, t.acked)
  }
}

/**
 * The state machine saved a durable snapshot through `index` (dissertation 5.1): remember it and
 * discard the log it covers. Never beyond what was applied; a leader restarts transfers in
 * progress with the newer snapshot (the older one may be deleted).
 */
export const snapshotTaken = (ctx: Ctx, index: number, size: number): void => {
  const s = ctx.state
  if (index > s.appliedIndex) throw new Error(`snapshot at ${index} beyond applied index ${s.appliedIndex}`)
  if (index <= (s.snapshot?.index ?? 0) || index < s.log.prevIndex) return
  const term = Log.termAt(s.log, index)!
  const meta: SnapshotMeta = { index, term, size }
  update(ctx, { snapshot: meta, log: Log.compactTo(s.log, index, term) })
  emit(ctx, { _tag: "CompactLog", upTo: index })
  for (const [id, pr] of ctx.state.progress) {
    if (pr.mode === "snapshot") startSnapshotTransfer(ctx, id)
  }
}

const reply = (ctx: Ctx, to: NodeId, snapshotIndex: number, nextOffset: number, done: boolean): void => {
  const m: InstallSnapshotResponse = {
    _tag: "InstallSnapshotResponse",
    term: ctx.state.term,
    snapshotIndex,
    nextOffset,
    done
  }
  // It reports durable bytes / a durable install: it waits for the writes issued so far.
  sendAfterDurable(ctx, to, m)
}

/**
 * Follower: one chunk of the leader's snapshot (dissertation Figure 5.3). Chunks are taken in
 * order; anything else is answered with the offset we expect, so a lost, duplicated or reordered
 * chunk only costs a resend. A chunk of another snapshot at offset 0 restarts the transfer.
 * The final chunk installs the snapshot: the log it covers is dropped (entries after it are kept
 * when our log holds the snapshot's last entry with the same term), and the state machine is
 * restored from it once that write is durable.
 */
export const handleInstallSnapshot = (ctx: Ctx, from: NodeId, m: InstallSnapshot): void => {
  resetElectionTimer(ctx)
  update(ctx, { leaderContactAt: ctx.now })
  const s = ctx.state
  const meta = m.snapshot
  if (meta.index <= s.commitIndex) {
    // We already have everything it covers (an older or duplicate snapshot).
    return reply(ctx, from, meta.index, meta.size, true)
  }
  let incoming = s.incomingSnapshot
  if (incoming === undefined || incoming.meta.index !== meta.index || incoming.meta.term !== meta.term) {
    if (m.offset !== 0) return reply(ctx, from, meta.index, 0, false)
    incoming = { meta, received: 0 }
  }
  // Out of order, or a chunk that would overrun the announced size (a broken or hostile sender):
  // answer with what we expect and write nothing.
  const end = m.offset + m.data.length
  if (m.offset !== incoming.received || end > meta.size || (m.done && end !== meta.size)) {
    return reply(ctx, from, meta.index, incoming.received, false)
  }
  const keepLog = Log.termAt(s.log, meta.index) === meta.term
  flushPersist(ctx)
  if (m.done) {
    // Install: the in-memory state changes now, the disk in the same write.
    const log = keepLog ? Log.compactTo(s.log, meta.index, meta.term) : Log.emptyLog(meta.index, meta.term)
    update(ctx, {
      log,
      snapshot: meta,
      incomingSnapshot: undefined,
      commitIndex: meta.index,
      appliedIndex: meta.index,
      durableIndex: Math.min(s.durableIndex, meta.index)
    })
  } else {
    update(ctx, { incomingSnapshot: { meta, received: end } })
  }
  const writeId = allocateWrite(ctx)
  emit(ctx, {
    _tag: "PersistSnapshotChunk",
    writeId,
    snapshot: meta,
    offset: m.offset,
    data: m.data,
    done: m.done,
    keepLog
  })
  if (!m.done) return reply(ctx, from, meta.index, end, false)
  emit(ctx, { _tag: "RestoreSnapshot", snapshot: meta, afterWrite: writeId })
  // Entries we kept past the snapshot may be committed already (leaderCommit arrives with appends).
  maybeApply(ctx)
  reply(ctx, from, meta.index, meta.size, true)
}
