import * as Log from "./log.ts"
import type { Progress, RaftState } from "./state.ts"
import type { Command, Entry, Message, NodeId } from "./types.ts"

/**
 * The scratchpad of one `step`: the state as it evolves and the commands emitted so far.
 *
 * `step` creates a fresh Ctx, the rules below update `ctx.state` by replacing it (never mutating a
 * state object) and push commands; `finish` folds this step's durable writes into one `Persist`.
 * The input state is never touched, so `step` stays a pure function.
 */
export interface Ctx {
  state: RaftState
  readonly now: number
  readonly random: number
  readonly commands: Command[]
  /** Term/vote changed in this step and must be written. */
  hardStateDirty: boolean
  /** The log suffix this step wrote: entries at `from ..` (everything at >= `from` replaced). */
  logWrite: { from: number; entries: Entry[] } | undefined
  /** Where in `commands` this step's Persist goes: at its first write, so every message that
   * waits on it comes after it and command order equals writeId order. */
  persistSlot: number | undefined
  /** Followers still owed a message carrying the current heartbeat round (a read round started in
   * this step); whoever is left when the step closes gets a heartbeat. */
  owedRound: Set<NodeId> | undefined
}

export const makeCtx = (state: RaftState, now: number, random: number): Ctx => ({
  state,
  now,
  random,
  commands: [],
  hardStateDirty: false,
  logWrite: undefined,
  persistSlot: undefined,
  owedRound: undefined
})

export const update = (ctx: Ctx, patch: Partial<RaftState>): void => {
  ctx.state = { ...ctx.state, ...patch }
}

/** Replace the leader's progress record of follower `id`. */
export const setProgress = (ctx: Ctx, id: NodeId, pr: Progress): void => {
  const progress = new Map(ctx.state.progress)
  progress.set(id, pr)
  update(ctx, { progress })
}

export const emit = (ctx: Ctx, command: Command): void => {
  ctx.commands.push(command)
}

/**
 * The write a durability-dependent message must wait for: this step's write if it has one, else
 * the latest write still in flight, else none. Writes complete in order, so waiting for the
 * latest covers every earlier one (a little conservative, never unsafe).
 */
export const durabilityBarrier = (ctx: Ctx): number | undefined => {
  if (ctx.persistSlot !== undefined) return ctx.state.nextWriteId
  const pending = ctx.state.pendingWrites
  return pending.length > 0 ? pending[pending.length - 1]!.writeId : undefined
}

export const send = (ctx: Ctx, to: NodeId, message: Message): void => {
  emit(ctx, { _tag: "Send", to, message, afterWrite: undefined })
}

/** Send a message that reports durable state (a vote, an append acknowledgement). */
export const sendAfterDurable = (ctx: Ctx, to: NodeId, message: Message): void => {
  emit(ctx, { _tag: "Send", to, message, afterWrite: durabilityBarrier(ctx) })
}

const reservePersist = (ctx: Ctx): void => {
  if (ctx.persistSlot !== undefined) return
  ctx.persistSlot = ctx.commands.length
  ctx.commands.push({ _tag: "Persist", writeId: -1, hardState: undefined, log: undefined })
}

/** Record a change of term/vote that must be made durable. */
export const markHardState = (ctx: Ctx): void => {
  reservePersist(ctx)
  ctx.hardStateDirty = true
}

/** Replace the log from `from` on with `entries` (paper 5.3), recording the durable write. */
export const writeLog = (ctx: Ctx, from: number, entries: ReadonlyArray<Entry>): void => {
  reservePersist(ctx)
  const s = ctx.state
  const log = Log.append(Log.truncateFrom(s.log, from), entries)
  update(ctx, { log, durableIndex: Math.min(s.durableIndex, from - 1) })
  const w = ctx.logWrite
  if (w === undefined) {
    ctx.logWrite = { from, entries: entries.slice() }
  } else if (from >= w.from) {
    w.entries.length = Math.min(w.entries.length, from - w.from)
    for (const e of entries) w.entries.push(e)
  } else {
    ctx.logWrite = { from, entries: entries.slice() }
  }
}

/** Take the next writeId for a write issued now, recording what the log will be once durable. */
export const allocateWrite = (ctx: Ctx): number => {
  const s = ctx.state
  const writeId = s.nextWriteId
  update(ctx, {
    nextWriteId: writeId + 1,
    pendingWrites: [
      ...s.pendingWrites,
      { writeId, lastIndex: Log.lastIndex(s.log), lastTerm: Log.lastTerm(s.log) }
    ]
  })
  return writeId
}

/** Turn this step's accumulated term/vote/log changes into its Persist command now. Called before
 * a write that must come after them (a snapshot chunk) and at the end of the step. */
export const flushPersist = (ctx: Ctx): void => {
  const slot = ctx.persistSlot
  if (slot === undefined) return
  const writeId = allocateWrite(ctx)
  const s = ctx.state
  ctx.commands[slot] = {
    _tag: "Persist",
    writeId,
    hardState: ctx.hardStateDirty ? { term: s.term, vote: s.vote } : undefined,
    log: ctx.logWrite
  }
  ctx.persistSlot = undefined
  ctx.hardStateDirty = false
  ctx.logWrite = undefined
}

/** Close the step and return its commands. */
export const finish = (ctx: Ctx): Command[] => {
  flushPersist(ctx)
  return ctx.commands
}
