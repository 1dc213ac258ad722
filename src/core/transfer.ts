import { type Ctx, send, update } from "./context.ts"
import * as Log from "./log.ts"
import { sendAppend } from "./replication.ts"
import type { NodeId } from "./types.ts"

/**
 * Leadership transfer (dissertation 3.10): the leader stops accepting proposals, brings the target
 * up to date, then sends it TimeoutNow; the target starts an election at once, skipping PreVote
 * and the voters' lease check. If that has not happened within an election timeout the transfer
 * is abandoned and proposals resume.
 */
export const transferLeadership = (ctx: Ctx, to: NodeId): void => {
  const s = ctx.state
  if (s.role !== "leader" || to === s.config.id || !s.progress.has(to)) return
  if (s.transfer?.to === to) return
  update(ctx, { transfer: { to, deadline: ctx.now + s.config.electionTimeoutMin } })
  maybeSendTimeoutNow(ctx)
}

/** Once the target holds our whole log, tell it to campaign; until then, keep it fed. */
export const maybeSendTimeoutNow = (ctx: Ctx): void => {
  const s = ctx.state
  const t = s.transfer
  if (t === undefined) return
  const pr = s.progress.get(t.to)!
  if (pr.match === Log.lastIndex(s.log)) send(ctx, t.to, { _tag: "TimeoutNow", term: s.term })
  else sendAppend(ctx, t.to)
}

/** Abandon a transfer that did not complete in time (checked on ticks). */
export const abortStaleTransfer = (ctx: Ctx): void => {
  const t = ctx.state.transfer
  if (t !== undefined && ctx.now >= t.deadline) update(ctx, { transfer: undefined })
}
