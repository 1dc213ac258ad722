import {
  type Apply,
  type Command,
  type Entry,
  type Event,
  initial,
  Log,
  type Message,
  type NodeId,
  type Persist,
  type PersistSnapshotChunk,
  type RaftState,
  type ReadFailed,
  type ReadReady,
  type RestoreSnapshot,
  step
} from "../../src/core/index.ts"
import { finish, mix, mixNumber, mixString, sameBytes } from "./hash.ts"
import { Heap } from "./heap.ts"
import { Checker, Invariant, type Violation } from "./invariants.ts"
import { Network, randomProfile } from "./network.ts"
import { type MachineOp, SimNode } from "./node.ts"
import { type SimOptions, simConfig } from "./options.ts"
import { Prng } from "./prng.ts"
import { applyHash, emptyMachine, type MachineState, parseSnapshot } from "./statemachine.ts"
import { formatRecord, type TraceRecord, TraceRing } from "./trace.ts"

/** What one run exercised (summed over seeds by the CLI). */
export interface SimStats {
  /** Core steps (`initial` and `step` calls). */
  steps: number
  /** Distinct leader terms. */
  elections: number
  /** Highest index committed. */
  commits: number
  /** Snapshots taken by a state machine and reported to the core. */
  snapshots: number
  /** Snapshot transfers completed: received, durable, restored and checked. */
  installSnapshots: number
  /** Linearizable reads served and checked. */
  reads: number
  readsFailed: number
  /** Leadership transfers that ended with the target leading. */
  transfers: number
  crashes: number
  partitions: number
  proposals: number
  messages: number
  /** Virtual time the run lasted (ms). */
  virtualMs: number
  /** Restarts whose stale log suffix did not chain to the snapshot and was dropped. */
  droppedUnchainedLogs: number
  /** SendSnapshotChunk for a snapshot no longer on disk (the chunk is not sent). */
  missingSnapshotReads: number
}

export const emptyStats = (): SimStats => ({
  steps: 0,
  elections: 0,
  commits: 0,
  snapshots: 0,
  installSnapshots: 0,
  reads: 0,
  readsFailed: 0,
  transfers: 0,
  crashes: 0,
  partitions: 0,
  proposals: 0,
  messages: 0,
  virtualMs: 0,
  droppedUnchainedLogs: 0,
  missingSnapshotReads: 0
})

/** Event kinds of the runtime (the workload adds its own from `FIRST_WORKLOAD_KIND`). */
export const DELIVER = 0
export const TIMER = 1
export const DISK = 2
export const FIRST_WORKLOAD_KIND = 10

/** One scheduled happening. A single shape for every kind keeps the hot loop monomorphic. */
export class SimEvent {
  readonly time: number
  readonly seq: number
  readonly kind: number
  readonly node: NodeId
  /** Incarnation of `node` (or a generation) the event belongs to; stale ones are ignored. */
  readonly inc: number
  /** DELIVER: the sender; TIMER: the timer generation. */
  readonly from: NodeId
  readonly payload: unknown

  constructor(
    time: number,
    seq: number,
    kind: number,
    node: NodeId,
    inc: number,
    from: NodeId,
    payload: unknown
  ) {
    this.time = time
    this.seq = seq
    this.kind = kind
    this.node = node
    this.inc = inc
    this.from = from
    this.payload = payload
  }
}

/** What every run reports at its end. */
export interface RunOutcome {
  readonly violation: (Violation & { readonly time: number }) | undefined
  readonly stats: SimStats
  /** Hash of the whole history: equal for two runs of one seed. */
  readonly traceHash: number
  /** The last trace lines (formatted), for a violation report. */
  readonly tail: ReadonlyArray<string>
}

const TERM_KEY = 2097152

/**
 * The simulated runtime of a cluster: it plays exactly what the command contract of the core
 * says a runtime does, on a virtual clock, with every random choice drawn from the seed:
 * - writes (`Persist`, `PersistSnapshotChunk`) complete after a random disk delay, strictly in
 *   writeId order (sometimes several at once, reported by one `Persisted`); only then do they
 *   reach the node's `Disk`, so a crash loses exactly what was not yet durable; `CompactLog` runs
 *   in order with them;
 * - `Send` goes onto the network now, or once its `afterWrite` is durable;
 * - state-machine commands (`Apply`, `RestoreSnapshot`, `ReadReady`) run in order, a restore
 *   waiting for the write that installed its snapshot;
 * - `SetTimer` schedules the node's next Tick on its own (drifting) clock.
 * The invariant checker sees every step, every message that leaves, every applied entry.
 */
export class Cluster {
  readonly opts: SimOptions
  protected readonly queue = new Heap<SimEvent>()
  private seq = 0
  protected now = 0
  readonly nodes: SimNode[] = []
  readonly ids: NodeId[]
  readonly network: Network
  readonly checker = new Checker()
  readonly stats = emptyStats()
  private traceHash = 0x2545f491
  private readonly ring: TraceRing

  // Sub-streams of the seed, one per subsystem.
  protected readonly netRng: Prng
  protected readonly diskRng: Prng
  protected readonly clockRng: Prng
  protected readonly faultRng: Prng
  protected readonly clientRng: Prng
  private readonly coreRng: Prng

  /** Payload of every accepted proposal, by (index, term) key: checked when first applied. */
  private readonly proposedAt = new Map<number, Uint8Array>()

  constructor(opts: SimOptions, size: number) {
    this.opts = opts
    const root = new Prng(opts.seed)
    this.netRng = root.fork("network")
    this.diskRng = root.fork("disk")
    this.clockRng = root.fork("clock")
    this.faultRng = root.fork("faults")
    this.clientRng = root.fork("clients")
    this.coreRng = root.fork("core")
    const configRng = root.fork("config")
    this.ids = Array.from({ length: size }, (_, k) => k + 1)
    for (const id of this.ids) this.nodes.push(new SimNode(id, simConfig(id, this.ids, configRng)))
    this.network = new Network(this.ids)
    this.network.profile = randomProfile(this.netRng)
    this.ring = new TraceRing(opts.traceTail)
  }

  node(id: NodeId): SimNode {
    return this.nodes[id - 1]!
  }

  /** Schedule an event. */
  at(time: number, kind: number, node: NodeId, inc = 0, from = 0, payload?: unknown): void {
    this.queue.push(new SimEvent(time, this.seq++, kind, node, inc, from, payload))
  }

  get failed(): boolean {
    return this.checker.violation !== undefined
  }

  get hash(): number {
    return finish(this.traceHash)
  }

  tail(): string[] {
    return this.ring.toArray().map(formatRecord)
  }

  /** The nodes that are up. */
  upNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up)
  }

  /** The up node leading the highest term, if any. */
  currentLeader(): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes) {
      const s = n.state
      if (n.up && s !== undefined && s.role === "leader" && (best === undefined || s.term > best.state!.term))
        best = n
    }
    return best
  }

  /** What every run reports at its end. */
  protected runOutcome(): RunOutcome {
    const v = this.checker.violation
    return {
      violation: v === undefined ? undefined : { ...v, time: this.now },
      stats: this.stats,
      traceHash: this.hash,
      tail: this.tail()
    }
  }

  /**
   * A leadership transfer to ask for: the current leader, and another node drawn from the client
   * stream to hand over to (undefined when there is no leader).
   */
  protected transferTarget(): { readonly leader: SimNode; readonly to: NodeId } | undefined {
    const leader = this.currentLeader()
    if (leader === undefined) return undefined
    return { leader, to: this.clientRng.pick(this.ids.filter((id) => id !== leader.id)) }
  }

  /** Ask `leader` to hand its leadership to `to`. */
  requestTransfer(leader: SimNode, to: NodeId): void {
    this.deliver(leader, { _tag: "TransferLeadership", ...this.eventBase(leader), to })
  }

  /**
   * The event loop: pop events in (time, seq) order and hand each to the runtime, else to
   * `dispatch`, until `done()`, a violation or an empty queue; beyond `opts.maxSteps` core steps
   * the run fails as a livelock. Then the run's totals are filled in `stats`.
   */
  protected runEvents(done: () => boolean, dispatch: (ev: SimEvent) => void): void {
    const maxSteps = this.opts.maxSteps
    while (!done() && !this.failed) {
      const ev = this.queue.pop()
      if (ev === undefined) break
      this.now = ev.time
      if (!this.dispatchRuntime(ev)) dispatch(ev)
      if (this.stats.steps > maxSteps) {
        this.checker.fail(Invariant.liveness, `more than ${maxSteps} steps (a livelock?)`)
      }
    }
    const s = this.stats
    s.elections = this.checker.leaders.size
    s.commits = this.checker.committedMax
    s.virtualMs = Math.round(this.now)
    for (const n of this.nodes) s.droppedUnchainedLogs += n.disk.droppedUnchainedLogs
  }

  /** Handle a runtime event; false when the kind is not the runtime's. */
  protected dispatchRuntime(ev: SimEvent): boolean {
    switch (ev.kind) {
      case DELIVER:
        this.onDeliver(ev)
        return true
      case TIMER:
        this.onTimer(ev)
        return true
      case DISK:
        this.onDisk(ev)
        return true
      default:
        return false
    }
  }

  // -------------------------------------------------------------------------------------------
  // Stepping the core
  // -------------------------------------------------------------------------------------------

  /** Start (or restart) a node from exactly its durable state. */
  start(n: SimNode): void {
    n.up = true
    n.inc++
    n.clockRate = this.clockRng.range(0.97, 1.03)
    n.clockOffset = this.clockRng.range(0, 10_000)
    n.clockStart = this.now
    n.lastNow = n.clockOffset
    n.lastWriteId = -1
    n.durableWriteId = -1
    const restored = n.disk.restored()
    // The state machine's state survives in the snapshot only.
    n.machine = emptyMachine
    const snap = n.disk.snapshot
    if (snap !== undefined) {
      const parsed = this.parseMachineSnapshot(snap.data)
      if (typeof parsed === "string") {
        this.checker.fail(Invariant.runtimeContract, `n${n.id} restarts from a corrupt snapshot: ${parsed}`)
        return
      }
      n.machine = parsed
      this.checker.restored(n.id, parsed.applied, parsed.hash)
    }
    this.onMachineLoaded(n, snap?.data)
    if (this.failed) return
    n.queuedApplied = n.machine.applied
    let result: ReturnType<typeof initial>
    try {
      result = initial(n.config, restored, n.localNow(this.now), this.coreRng.next())
    } catch (e) {
      this.checker.fail(Invariant.corePanic, `initial(n${n.id}) threw: ${describeError(e)}`)
      return
    }
    n.state = result.state
    this.stats.steps++
    this.record(n, undefined, result.commands)
    this.checker.started(n.id, result.state)
    this.interpret(n, result.commands)
    this.afterNodeStep(n)
  }

  /** Lose everything volatile of `n`. */
  crash(n: SimNode): void {
    n.crash()
    if (this.opts.inject.includes("forget-vote")) n.disk.hardState = { ...n.disk.hardState, vote: 0 }
    this.checker.crashed(n.id)
    this.stats.crashes++
  }

  /** Step a running node with one event and carry out what it asks. */
  deliver(n: SimNode, event: Event): void {
    const before = n.state!
    const probe = purityProbe(before)
    let result: ReturnType<typeof step>
    try {
      result = step(before, event)
    } catch (e) {
      this.checker.fail(Invariant.corePanic, `step(n${n.id}, ${event._tag}) threw: ${describeError(e)}`)
      return
    }
    if (purityProbe(before) !== probe) {
      this.checker.fail(Invariant.runtimeContract, `step(n${n.id}, ${event._tag}) modified its input state`)
      return
    }
    n.state = result.state
    this.stats.steps++
    this.record(n, event, result.commands)
    this.checker.afterStep(n.id, result.state)
    this.interpret(n, result.commands)
    this.afterNodeStep(n)
  }

  /** The fields every event carries, on `n`'s clock. */
  eventBase(n: SimNode): { now: number; random: number } {
    return { now: n.localNow(this.now), random: this.coreRng.next() }
  }

  /** Hook for the workload after every step of `n`. */
  protected afterNodeStep(n: SimNode): void {
    const s = n.state
    if (s === undefined || this.failed) return
    if (n.queuedApplied !== s.appliedIndex) {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id}: the core says applied ${s.appliedIndex}, its commands bring the state machine to ${n.queuedApplied}`
      )
    }
  }

  private record(n: SimNode, event: Event | undefined, commands: ReadonlyArray<Command>): void {
    const s = n.state!
    let h = mix(this.traceHash, n.id)
    h = mixNumber(h, this.now)
    h = mixString(h, event?._tag ?? "start")
    h = mix(h, s.term)
    h = mix(h, s.commitIndex)
    h = mix(h, Log.lastIndex(s.log))
    this.traceHash = mix(h, commands.length)
    const rec: TraceRecord = {
      time: this.now,
      node: n.id,
      event,
      commands,
      role: s.role,
      term: s.term,
      commit: s.commitIndex,
      note: undefined
    }
    this.ring.push(rec)
    if (this.opts.onTrace !== undefined) this.opts.onTrace(formatRecord(rec))
  }

  /** Record a simulator action (crash, partition, ...) in the trace. */
  note(node: NodeId, note: string): void {
    this.traceHash = mixString(mix(this.traceHash, node), note)
    const rec: TraceRecord = {
      time: this.now,
      node,
      event: undefined,
      commands: [],
      role: undefined,
      term: 0,
      commit: 0,
      note
    }
    this.ring.push(rec)
    if (this.opts.onTrace !== undefined) this.opts.onTrace(formatRecord(rec))
  }

  // -------------------------------------------------------------------------------------------
  // Interpreting commands
  // -------------------------------------------------------------------------------------------

  private interpret(n: SimNode, commands: ReadonlyArray<Command>): void {
    const commit = n.state!.commitIndex
    for (const c of commands) {
      if (this.failed) return
      switch (c._tag) {
        case "Persist":
        case "PersistSnapshotChunk":
          this.issueWrite(n, c)
          break
        case "Send":
          this.send(n, c.to, c.message, c.afterWrite)
          break
        case "SetTimer":
          this.setTimer(n, c.at)
          break
        case "Apply": {
          const last = c.firstIndex + c.entries.length - 1
          if (last > commit) {
            this.checker.fail(
              Invariant.stateMachineSafety,
              `n${n.id} applies through ${last} beyond its commit index ${commit}`
            )
            return
          }
          if (c.entries.length > 0) n.queuedApplied = last
          n.machineOps.push(c)
          break
        }
        case "RestoreSnapshot":
          n.queuedApplied = c.snapshot.index
          n.machineOps.push(c)
          break
        case "ReadReady":
          n.machineOps.push(c)
          break
        case "Proposed":
          this.onProposed(n, c.id, c.firstIndex, c.term)
          break
        case "ProposalDropped":
          this.onProposalDropped(c.id, c.leader)
          break
        case "ReadFailed":
          for (const id of c.ids) this.checker.readFailed(id)
          this.stats.readsFailed += c.ids.length
          this.onLeaderHint(c.leader)
          this.onReadsAnswered(n, c)
          break
        case "CompactLog": {
          if (c.upTo > n.machine.applied) {
            this.checker.fail(
              Invariant.runtimeContract,
              `n${n.id} compacts its log through ${c.upTo}, beyond what its state machine applied (${n.machine.applied})`
            )
            return
          }
          // The store applies it in order with the writes still queued (they were issued first).
          if (n.writes.length === 0) this.compact(n, c.upTo)
          else n.writes.push(c)
          break
        }
        case "SendSnapshotChunk": {
          const data = n.disk.readSnapshot(c.snapshot, c.offset, c.length)
          if (data === undefined) {
            this.stats.missingSnapshotReads++
            break
          }
          const m: Message = {
            _tag: "InstallSnapshot",
            term: c.term,
            snapshot: c.snapshot,
            offset: c.offset,
            data,
            done: c.done
          }
          this.send(n, c.to, m, undefined)
          break
        }
        case "RoleChanged":
          break
      }
    }
    this.runMachine(n)
  }

  /** Workload hooks for client bookkeeping. */
  protected onProposed(_n: SimNode, _id: number, _firstIndex: number, _term: number): void {}
  protected onProposalDropped(_id: number, _leader: NodeId): void {}
  protected onLeaderHint(_leader: NodeId): void {}

  /*
   * Application hooks (no-ops here): test/kvsim runs the real KV state machine beside the hash
   * machine, fed by the same commands at the same moments, with its state inside the snapshots.
   */
  /** The hash machine's state from a snapshot's bytes (a KV snapshot carries it as a prefix). */
  protected parseMachineSnapshot(data: Uint8Array): MachineState | string {
    return parseSnapshot(data)
  }
  /** `n`'s state machine was (re)loaded: from snapshot `data` (restart, RestoreSnapshot), or empty
   * (a start without a snapshot). */
  protected onMachineLoaded(_n: SimNode, _data: Uint8Array | undefined): void {}
  /** `n` applied `entry` at `index` (after the hash machine did). */
  protected onApplied(_n: SimNode, _index: number, _entry: Entry): void {}
  /** Reads `n` may serve now (its state machine has applied through `index`), or that failed. */
  protected onReadsAnswered(_n: SimNode, _c: ReadReady | ReadFailed): void {}

  /** Remember what an accepted proposal put at each index, to check it when applied. */
  protected expectProposal(firstIndex: number, term: number, data: ReadonlyArray<Uint8Array>): void {
    for (let k = 0; k < data.length; k++) this.proposedAt.set((firstIndex + k) * TERM_KEY + term, data[k]!)
  }

  private send(n: SimNode, to: NodeId, message: Message, afterWrite: number | undefined): void {
    if (!this.ids.includes(to) || to === n.id) {
      this.checker.fail(Invariant.runtimeContract, `n${n.id} sends to n${to}, not a peer`)
    } else if (
      afterWrite === undefined ||
      afterWrite <= n.durableWriteId ||
      this.opts.inject.includes("send-before-durable")
    ) {
      this.transmit(n, to, message)
    } else if (afterWrite > n.lastWriteId) {
      this.checker.fail(Invariant.runtimeContract, `n${n.id} sends after write ${afterWrite}, never issued`)
    } else {
      n.held.push({ afterWrite, to, message })
    }
  }

  /** A message leaves node `n` now. */
  private transmit(n: SimNode, to: NodeId, message: Message): void {
    this.checker.sent(n.id, to, message, n.disk)
    this.stats.messages++
    if (this.network.isBlocked(n.id, to)) return
    for (const d of this.network.deliveries(this.netRng)) this.at(this.now + d, DELIVER, to, 0, n.id, message)
  }

  private onDeliver(ev: SimEvent): void {
    const n = this.node(ev.node)
    if (!n.up || this.network.isBlocked(ev.from, ev.node)) return
    this.deliver(n, { _tag: "Receive", ...this.eventBase(n), from: ev.from, message: ev.payload as Message })
  }

  // --- the disk ------------------------------------------------------------------------------

  private issueWrite(n: SimNode, c: Persist | PersistSnapshotChunk): void {
    if (c.writeId <= n.lastWriteId) {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id} issued write ${c.writeId} after write ${n.lastWriteId}`
      )
      return
    }
    n.lastWriteId = c.writeId
    n.writes.push(c)
    if (!n.diskScheduled) {
      n.diskScheduled = true
      this.at(this.now + this.diskDelay(), DISK, n.id, n.inc)
    }
  }

  /** Mostly fast fsyncs, some slow ones, a few very slow. */
  diskDelay(): number {
    const r = this.diskRng.next()
    if (r < 0.7) return this.diskRng.range(0.2, 3)
    if (r < 0.95) return this.diskRng.range(3, 15)
    return this.diskRng.range(15, 80)
  }

  /** The disk finished writing: the oldest write, or (group commit) every queued one. A
   * compaction queued behind a write runs right after it. */
  private onDisk(ev: SimEvent): void {
    const n = this.node(ev.node)
    if (!n.up || ev.inc !== n.inc) return
    n.diskScheduled = false
    let budget = this.diskRng.chance(0.3) ? n.writes.length : 1
    let last: number | undefined
    while (n.writes.length > 0 && (budget > 0 || n.writes[0]!._tag === "CompactLog")) {
      const w = n.writes.shift()!
      if (w._tag === "CompactLog") {
        this.compact(n, w.upTo)
        if (this.failed) return
        continue
      }
      budget--
      const breach = w._tag === "Persist" ? n.disk.applyPersist(w) : n.disk.applySnapshotChunk(w)
      if (breach !== undefined) {
        this.checker.fail(Invariant.runtimeContract, `n${n.id}: ${breach}`)
        return
      }
      // What waited for this write leaves now, before the next write of the group lands (the
      // durability checks compare a message with the disk as it was when it could leave).
      n.durableWriteId = w.writeId
      last = w.writeId
      this.releaseHeld(n)
      this.runMachine(n)
      if (this.failed) return
    }
    if (last === undefined) return
    this.deliver(n, { _tag: "Persisted", ...this.eventBase(n), writeId: last })
    if (n.up && n.inc === ev.inc && n.writes.length > 0 && !n.diskScheduled) {
      n.diskScheduled = true
      this.at(this.now + this.diskDelay(), DISK, n.id, n.inc)
    }
  }

  private compact(n: SimNode, upTo: number): void {
    const breach = n.disk.compact(upTo)
    if (breach !== undefined) this.checker.fail(Invariant.runtimeContract, `n${n.id}: ${breach}`)
  }

  private releaseHeld(n: SimNode): void {
    if (n.held.length === 0) return
    const stay = []
    for (const h of n.held) {
      if (h.afterWrite <= n.durableWriteId) this.transmit(n, h.to, h.message)
      else stay.push(h)
    }
    n.held = stay
  }

  // --- timers --------------------------------------------------------------------------------

  /** `SetTimer { at }`: one queued event per node; a later deadline is applied lazily when the
   * earlier event fires (followers push their deadline back at every heartbeat). */
  private setTimer(n: SimNode, at: number): void {
    n.timerLocalAt = at
    n.timerDue = Math.max(this.now, n.toGlobal(at)) + this.clockRng.range(0, 0.5)
    if (n.timerDue < n.timerScheduled) this.scheduleTimer(n, n.timerDue)
  }

  private scheduleTimer(n: SimNode, time: number): void {
    n.timerScheduled = time
    n.timerGen++
    this.at(time, TIMER, n.id, n.inc, n.timerGen)
  }

  private onTimer(ev: SimEvent): void {
    const n = this.node(ev.node)
    if (!n.up || ev.inc !== n.inc || ev.from !== n.timerGen) return
    n.timerScheduled = Number.POSITIVE_INFINITY
    if (n.timerDue > this.now) {
      if (n.timerDue !== Number.POSITIVE_INFINITY) this.scheduleTimer(n, n.timerDue)
      return
    }
    n.timerDue = Number.POSITIVE_INFINITY
    const base = this.eventBase(n)
    // The clock may read a hair before the deadline through rounding: a timer fires late, never
    // early.
    if (base.now < n.timerLocalAt) {
      n.lastNow = n.timerLocalAt
      base.now = n.timerLocalAt
    }
    this.deliver(n, { _tag: "Tick", ...base })
  }

  // --- the state machine ---------------------------------------------------------------------

  /** Run queued state-machine commands in order until one must wait for a write. */
  private runMachine(n: SimNode): void {
    const ops = n.machineOps
    let k = 0
    while (k < ops.length && !this.failed) {
      const op = ops[k]!
      if (op._tag === "RestoreSnapshot" && op.afterWrite !== undefined && op.afterWrite > n.durableWriteId)
        break
      this.runOp(n, op)
      k++
    }
    if (k > 0) ops.splice(0, k)
  }

  private runOp(n: SimNode, op: MachineOp): void {
    switch (op._tag) {
      case "Apply":
        return this.apply(n, op)
      case "RestoreSnapshot":
        return this.restore(n, op)
      case "ReadReady":
        return this.serveReads(n, op)
    }
  }

  private apply(n: SimNode, c: Apply): void {
    let m = n.machine
    for (let k = 0; k < c.entries.length; k++) {
      const index = c.firstIndex + k
      const e = c.entries[k]!
      if (index !== m.applied + 1) {
        this.checker.fail(Invariant.runtimeContract, `n${n.id} applies index ${index} after ${m.applied}`)
        return
      }
      const hash = applyHash(m.hash, index, e)
      m = { applied: index, term: e.term, hash }
      const first = this.checker.appliedHash[index] === undefined
      this.checker.applied(n.id, index, e, hash)
      if (first && e.kind === "command") {
        const proposed = this.proposedAt.get(index * TERM_KEY + e.term)
        if (proposed !== undefined && !sameBytes(proposed, e.data)) {
          this.checker.fail(
            Invariant.runtimeContract,
            `index ${index} term ${e.term} was reported Proposed for other data`
          )
        }
      }
      n.machine = m
      this.onApplied(n, index, e)
      if (this.failed) return
    }
    n.machine = m
  }

  private restore(n: SimNode, c: RestoreSnapshot): void {
    const meta = c.snapshot
    const data = n.disk.readSnapshot(meta, 0, meta.size)
    if (data === undefined) {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id} restores snapshot ${meta.index}/${meta.term}, which is not on its disk (it holds ${n.disk.snapshot?.meta.index ?? "none"})`
      )
      return
    }
    const parsed = this.parseMachineSnapshot(data)
    if (typeof parsed === "string") {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id} restores a corrupt snapshot ${meta.index}: ${parsed}`
      )
      return
    }
    if (parsed.applied !== meta.index || parsed.term !== meta.term) {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id} snapshot ${meta.index}/${meta.term} holds the state at ${parsed.applied}/${parsed.term}`
      )
      return
    }
    if (parsed.applied < n.machine.applied) {
      this.checker.fail(
        Invariant.stateMachineSafety,
        `n${n.id} restores snapshot ${meta.index} over a state machine that applied ${n.machine.applied}`
      )
      return
    }
    this.checker.restored(n.id, parsed.applied, parsed.hash)
    n.machine = parsed
    this.onMachineLoaded(n, data)
    if (c.afterWrite !== undefined && !this.failed) this.stats.installSnapshots++
  }

  private serveReads(n: SimNode, c: ReadReady): void {
    for (const id of c.ids) {
      if (this.checker.readServed(n.id, id, c.index, n.machine.applied)) this.stats.reads++
    }
    this.onReadsAnswered(n, c)
  }
}

/** Cheap fingerprint of the fields a step could wrongly mutate in place. */
const purityProbe = (s: RaftState): number => {
  let h = mix(s.term, s.vote)
  h = mix(h, s.role.length)
  h = mix(h, s.commitIndex)
  h = mix(h, s.appliedIndex)
  h = mix(h, s.log.prevIndex)
  h = mix(h, s.log.start)
  h = mix(h, s.log.length)
  h = mix(h, s.nextWriteId)
  return mix(h, s.pendingWrites.length)
}

const describeError = (e: unknown): string => (e instanceof Error ? (e.stack ?? e.message) : String(e))
