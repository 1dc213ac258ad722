/**
 * Helpers for the unit tests of the pure core: builders for configs, logs and states, event and
 * message constructors, a purity-checking `stepOk`, and `Net`, a tiny in-memory network whose
 * deliveries and durability reports happen in exactly the order a test asks for.
 */
import { expect } from "vitest"
import {
  type Command,
  defaultConfig,
  type Entry,
  type Event,
  type HardState,
  initial,
  Log,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftState,
  type Role,
  type SnapshotMeta,
  type StepResult,
  step
} from "../../src/core/index.ts"

// ---------------------------------------------------------------------------------------------
// Configs, entries, logs
// ---------------------------------------------------------------------------------------------

/** Default timings (ms): election timeout in [1000, 2000), heartbeat every 100. */
export const ELECTION_MIN = 1000
export const ELECTION_MAX = 2000
export const HEARTBEAT = 100

export const config = (
  id: NodeId,
  members: ReadonlyArray<NodeId> = [1, 2, 3],
  patch: Partial<RaftConfig> = {}
) => ({
  ...defaultConfig(id, members),
  ...patch
})

/** A command entry; the payload defaults to [index, term] so entries are told apart. */
export const entry = (term: number, index: number, data?: Uint8Array): Entry => ({
  term,
  kind: "command",
  data: data ?? Uint8Array.of(index & 255, term & 255)
})

export const noop = (term: number): Entry => ({ term, kind: "noop", data: new Uint8Array(0) })

/** Command entries at indices `from ..` with the given terms. */
export const entries = (terms: ReadonlyArray<number>, from = 1): Entry[] =>
  terms.map((t, k) => entry(t, from + k))

/** Every entry a state holds, in order. */
export const logOf = (s: RaftState): Entry[] => Log.slice(s.log, Log.firstIndex(s.log), Log.lastIndex(s.log))

/** The terms of every entry a state holds. */
export const termsOf = (s: RaftState): number[] => logOf(s).map((e) => e.term)

// ---------------------------------------------------------------------------------------------
// Events, messages, commands
// ---------------------------------------------------------------------------------------------

export const tick = (now: number, random = 0): Event => ({ _tag: "Tick", now, random })
export const recv = (from: NodeId, message: Message, now = 0, random = 0): Event => ({
  _tag: "Receive",
  from,
  message,
  now,
  random
})
export const propose = (id: number, data: ReadonlyArray<Uint8Array>, now = 0): Event => ({
  _tag: "Propose",
  id,
  data,
  now,
  random: 0
})
export const persisted = (writeId: number, now = 0): Event => ({ _tag: "Persisted", writeId, now, random: 0 })
export const snapshotTaken = (index: number, size: number, now = 0): Event => ({
  _tag: "SnapshotTaken",
  index,
  size,
  now,
  random: 0
})
export const readIndex = (ids: ReadonlyArray<number>, now = 0): Event => ({
  _tag: "ReadIndex",
  ids,
  now,
  random: 0
})
export const transferTo = (to: NodeId, now = 0): Event => ({ _tag: "TransferLeadership", to, now, random: 0 })

export const voteReq = (
  term: number,
  lastLogIndex: number,
  lastLogTerm: number,
  opts: { preVote?: boolean; transfer?: boolean } = {}
): Message => ({
  _tag: "RequestVote",
  term,
  lastLogIndex,
  lastLogTerm,
  preVote: opts.preVote ?? false,
  transfer: opts.transfer ?? false
})

export const voteResp = (term: number, granted: boolean, preVote = false): Message => ({
  _tag: "RequestVoteResponse",
  term,
  granted,
  preVote
})

export const append = (m: {
  term: number
  prevLogIndex: number
  prevLogTerm: number
  entries?: ReadonlyArray<Entry>
  leaderCommit?: number
  round?: number
}): Message => ({
  _tag: "AppendEntries",
  term: m.term,
  prevLogIndex: m.prevLogIndex,
  prevLogTerm: m.prevLogTerm,
  entries: m.entries ?? [],
  leaderCommit: m.leaderCommit ?? 0,
  round: m.round ?? 0
})

export const appendOk = (term: number, index: number, round = 0): Message => ({
  _tag: "AppendEntriesResponse",
  term,
  success: true,
  index,
  conflictTerm: 0,
  conflictIndex: 0,
  round
})

export const appendReject = (
  term: number,
  index: number,
  conflictTerm: number,
  conflictIndex: number,
  round = 0
): Message => ({
  _tag: "AppendEntriesResponse",
  term,
  success: false,
  index,
  conflictTerm,
  conflictIndex,
  round
})

export const persist = (
  writeId: number,
  hardState?: HardState,
  log?: { from: number; entries: ReadonlyArray<Entry> }
): Command => ({ _tag: "Persist", writeId, hardState, log })

export const send = (to: NodeId, message: Message, afterWrite?: number): Command => ({
  _tag: "Send",
  to,
  message,
  afterWrite
})

export const setTimer = (at: number): Command => ({ _tag: "SetTimer", at })

export const roleChanged = (role: Role, term: number, leader: NodeId): Command => ({
  _tag: "RoleChanged",
  role,
  term,
  leader
})

/** The commands of one tag. */
export const only = <T extends Command["_tag"]>(commands: ReadonlyArray<Command>, tag: T) =>
  commands.filter((c): c is Extract<Command, { _tag: T }> => c._tag === tag)

// ---------------------------------------------------------------------------------------------
// Stepping with a purity check
// ---------------------------------------------------------------------------------------------

/** Everything observable about a state, the log by its contents (its storage may be shared). */
const fingerprint = (s: RaftState): unknown => ({ ...s, log: [s.log.prevIndex, s.log.prevTerm, logOf(s)] })

/** `step`, checking that the input state is left exactly as it was (the core is pure). */
export const stepOk = (state: RaftState, event: Event): StepResult => {
  const before = fingerprint(state)
  const result = step(state, event)
  expect(fingerprint(state), "step must not modify its input state").toEqual(before)
  return result
}

/** Step through several events, returning the final state and every command, in order. */
export const stepAll = (state: RaftState, events: ReadonlyArray<Event>): StepResult => {
  const commands: Command[] = []
  for (const e of events) {
    const r = stepOk(state, e)
    state = r.state
    commands.push(...r.commands)
  }
  return { state, commands }
}

// ---------------------------------------------------------------------------------------------
// Building states
// ---------------------------------------------------------------------------------------------

export interface BootOptions {
  readonly members?: ReadonlyArray<NodeId>
  readonly term?: number
  readonly vote?: NodeId
  /** Terms of the log's entries (from index 1, or after the snapshot). */
  readonly log?: ReadonlyArray<number>
  readonly snapshot?: SnapshotMeta
  readonly config?: Partial<RaftConfig>
  readonly now?: number
}

/** A node restarted from durable state (a follower that knows no leader). */
export const boot = (id: NodeId, o: BootOptions = {}): RaftState => {
  const first = (o.snapshot?.index ?? 0) + 1
  return initial(
    config(id, o.members ?? [1, 2, 3], o.config),
    {
      hardState: { term: o.term ?? 0, vote: o.vote ?? 0 },
      snapshot: o.snapshot,
      entries: entries(o.log ?? [], first)
    },
    o.now ?? 0,
    0
  ).state
}

/**
 * Node `id` wins an election at `now` through the real path (timeout, PreVote, RequestVote), with
 * the votes of the lowest-numbered other members, and its no-op write made durable. The followers
 * themselves are not involved: their replies are fabricated here.
 */
export const elect = (id: NodeId, o: BootOptions = {}, now = ELECTION_MIN): RaftState => {
  let s = boot(id, o)
  const majority = Math.floor(s.config.members.length / 2) + 1
  const voters = s.config.members.filter((m) => m !== id).slice(0, majority - 1)
  s = stepOk(s, tick(now)).state
  if (s.config.preVote) {
    for (const v of voters) s = stepOk(s, recv(v, voteResp(s.term + 1, true, true), now)).state
  }
  for (const v of voters) s = stepOk(s, recv(v, voteResp(s.term, true), now)).state
  expect(s.role).toBe("leader")
  return stepOk(s, persisted(s.nextWriteId - 1, now)).state
}

/** A follower of `leader` in `term` that heard from it at `now` (through a heartbeat). */
export const follower = (
  id: NodeId,
  leader: NodeId,
  term: number,
  o: BootOptions = {},
  now = 0
): RaftState => {
  let s = boot(id, { ...o, term: o.term ?? term })
  const last = Log.lastIndex(s.log)
  s = stepOk(
    s,
    recv(leader, append({ term, prevLogIndex: last, prevLogTerm: Log.lastTerm(s.log) }), now)
  ).state
  // Make the term change (if any) durable so that later replies wait on nothing older.
  if (s.pendingWrites.length > 0) s = stepOk(s, persisted(s.nextWriteId - 1, now)).state
  expect(s.leader).toBe(leader)
  return s
}

// ---------------------------------------------------------------------------------------------
// A test-controlled network
// ---------------------------------------------------------------------------------------------

export interface Packet {
  readonly from: NodeId
  readonly to: NodeId
  readonly message: Message
}

/**
 * A few nodes and what is in flight between them. Nothing happens on its own: sends queue up in
 * `wire`; a send that waits on a write (`afterWrite`) is held until the test reports that write
 * durable with `persist`; `deliver` hands queued packets to their targets in the order given.
 */
export class Net {
  readonly nodes = new Map<NodeId, RaftState>()
  /** Packets sent and not yet delivered or dropped, oldest first. */
  wire: Packet[] = []
  /** Sends waiting on a write of their sender, by sender. */
  private readonly held = new Map<NodeId, Array<{ readonly afterWrite: number; readonly packet: Packet }>>()
  /** Every command each node emitted, in order. */
  readonly log = new Map<NodeId, Command[]>()
  /** Nodes that cannot reach each other (both directions): packets between them are dropped. */
  private readonly cuts = new Set<string>()
  now = 0

  constructor(states: ReadonlyArray<RaftState>) {
    for (const s of states) {
      this.nodes.set(s.config.id, s)
      this.held.set(s.config.id, [])
      this.log.set(s.config.id, [])
    }
  }

  get(id: NodeId): RaftState {
    return this.nodes.get(id)!
  }

  /** Step node `id`; its sends go on the wire (or are held behind their write). */
  step(id: NodeId, event: Event): ReadonlyArray<Command> {
    const { state, commands } = stepOk(this.get(id), event)
    this.nodes.set(id, state)
    this.log.get(id)!.push(...commands)
    for (const c of commands) {
      if (c._tag !== "Send") continue
      const packet = { from: id, to: c.to, message: c.message }
      if (c.afterWrite === undefined) this.wire.push(packet)
      else this.held.get(id)!.push({ afterWrite: c.afterWrite, packet })
    }
    return commands
  }

  /** Node `id`'s timer fires (at the time it asked for, or `now`). */
  tick(id: NodeId, at?: number): ReadonlyArray<Command> {
    this.now = Math.max(this.now, at ?? this.get(id).timerAt)
    return this.step(id, tick(this.now))
  }

  /** Report every write node `id` issued as durable, releasing the sends that waited on them. */
  persist(id: NodeId): ReadonlyArray<Command> {
    const s = this.get(id)
    if (s.pendingWrites.length === 0) return []
    const writeId = s.nextWriteId - 1
    const commands = this.step(id, persisted(writeId, this.now))
    const held = this.held.get(id)!
    for (const h of held) if (h.afterWrite <= writeId) this.wire.push(h.packet)
    this.held.set(
      id,
      held.filter((h) => h.afterWrite > writeId)
    )
    return commands
  }

  persistAll(): void {
    for (const id of this.nodes.keys()) this.persist(id)
  }

  /** Sends of node `id` still waiting on a write. */
  heldBy(id: NodeId): ReadonlyArray<Packet> {
    return this.held.get(id)!.map((h) => h.packet)
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}-${b}`).add(`${b}-${a}`)
  }

  heal(): void {
    this.cuts.clear()
  }

  /** Isolate `id` from every other node. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other)
  }

  /** Remove and return the queued packets matching `filter` (all by default), oldest first. */
  take(filter: (p: Packet) => boolean = () => true): Packet[] {
    const taken = this.wire.filter(filter)
    this.wire = this.wire.filter((p) => !filter(p))
    return taken
  }

  /** Drop the queued packets matching `filter`; returns how many. */
  drop(filter: (p: Packet) => boolean = () => true): number {
    return this.take(filter).length
  }

  /** Deliver one packet now (unless its link is cut). */
  deliverPacket(p: Packet): void {
    if (this.cuts.has(`${p.from}-${p.to}`) || !this.nodes.has(p.to)) return
    this.step(p.to, recv(p.from, p.message, this.now))
  }

  /** Deliver the queued packets matching `filter`, oldest first; returns how many were taken. */
  deliver(filter: (p: Packet) => boolean = () => true): number {
    const batch = this.take(filter)
    for (const p of batch) this.deliverPacket(p)
    return batch.length
  }

  /** Fire the earliest timer any node asked for (ties: lowest id); returns that node. */
  fireNextTimer(): NodeId {
    let next: NodeId | undefined
    for (const [id, s] of this.nodes) {
      if (next === undefined || s.timerAt < this.get(next).timerAt) next = id
    }
    this.tick(next!)
    return next!
  }

  /** Alternate settling the network and firing timers until `done` holds (or `maxTimers`). */
  runUntil(done: () => boolean, maxTimers = 200): void {
    for (let k = 0; k < maxTimers; k++) {
      this.settle()
      if (done()) return
      this.fireNextTimer()
    }
    throw new Error("condition not reached")
  }

  /** Persist and deliver round by round until `done` holds (bounded). */
  until(done: () => boolean, maxRounds = 100): void {
    for (let round = 0; round < maxRounds && !done(); round++) {
      this.persistAll()
      this.deliver()
    }
    if (!done()) throw new Error("condition not reached")
  }

  /** Persist and deliver until nothing is left in flight (bounded, in case of a livelock). */
  settle(maxRounds = 100): number {
    for (let round = 0; round < maxRounds; round++) {
      this.persistAll()
      if (this.wire.length === 0) return round
      this.deliver()
    }
    throw new Error("network did not settle")
  }
}

/** Filters for `Net.deliver`/`take`/`drop`. */
export const between =
  (from: NodeId, to: NodeId) =>
  (p: Packet): boolean =>
    p.from === from && p.to === to
export const from =
  (id: NodeId) =>
  (p: Packet): boolean =>
    p.from === id
export const to =
  (id: NodeId) =>
  (p: Packet): boolean =>
    p.to === id
export const ofTag =
  (tag: Message["_tag"]) =>
  (p: Packet): boolean =>
    p.message._tag === tag

/** Elect node `leader` in a net of booted nodes by firing its timer and settling everything. */
export const electIn = (net: Net, leader: NodeId): void => {
  net.tick(leader)
  net.settle()
  expect(net.get(leader).role).toBe("leader")
}
