import { Log, NONE, type NodeId } from "../../src/core/index.ts"
import { FaultSchedule } from "./faults.ts"
import { Invariant } from "./invariants.ts"
import type { SimNode } from "./node.ts"
import { defaultOptions, type SimOptions } from "./options.ts"
import { Prng } from "./prng.ts"
import { Cluster, FIRST_WORKLOAD_KIND, type RunOutcome, type SimEvent } from "./runtime.ts"
import { SNAPSHOT_HEADER_BYTES, serializeSnapshot } from "./statemachine.ts"

export { emptyStats, type SimStats } from "./runtime.ts"

export interface SimResult extends RunOutcome {
  readonly seed: number
  readonly nodes: number
}

// Workload event kinds (the fault schedule's come first).
const PROPOSE = FIRST_WORKLOAD_KIND + FaultSchedule.kinds
const READ = PROPOSE + 1
const TRANSFER = PROPOSE + 2
const SNAPSHOT_TRIGGER = PROPOSE + 3
const SNAPSHOT_SAVED = PROPOSE + 4
const END_SAFETY = PROPOSE + 5
const LIVENESS = PROPOSE + 6

/** The liveness phase runs at least this long, so that reads issued in it can be checked. */
const MIN_LIVENESS_MS = 2000

/** A state machine snapshot being written to disk. */
interface PendingSnapshot {
  readonly index: number
  readonly term: number
  readonly data: Uint8Array
}

const clusterSizes = [3, 3, 5, 7] as const

/** Cluster size for a seed when none is forced: mostly 3, some 5 and 7. */
export const nodesForSeed = (seed: number, forced: number): number =>
  forced > 0 ? forced : clusterSizes[new Prng(seed, 0x5eed).int(0, clusterSizes.length)]!

/**
 * One deterministic run: the workload on top of the simulated runtime. Clients propose and read,
 * state machines snapshot, leaders are asked to transfer, and during the safety phase faults
 * strike (crashes, partitions, lossy/duplicating/reordering network); then the liveness phase
 * heals everything and requires a leader and a fresh commit applied on every node in bounded
 * virtual time.
 */
class Simulation extends Cluster {
  private phase: "safety" | "liveness" = "safety"
  private finished = false
  private healAt = 0
  private readonly faults = new FaultSchedule(
    { cluster: this, faultRng: this.faultRng, netRng: this.netRng, now: () => this.now },
    this.opts,
    FIRST_WORKLOAD_KIND
  )
  /** Reads issued in the liveness phase (they must all be answered). */
  private readonly livenessReads: Array<{ id: number; node: NodeId; at: number }> = []
  /** The term each node was last seen leading (to notice new leaders). */
  private readonly leaderTerm: number[] = []

  private nextProposalId = 1
  private nextReadId = 1
  private leaderHint: NodeId = NONE
  private readonly proposalData = new Map<number, ReadonlyArray<Uint8Array>>()
  private transfer: { to: NodeId; term: number; deadline: number } | undefined = undefined
  /** Liveness phase: the proposal that must reach every state machine (index 0: not accepted yet). */
  private marker: { id: number; index: number; term: number } | undefined = undefined

  run(): SimResult {
    for (const n of this.nodes) this.start(n)
    const o = this.opts
    this.at(this.clientRng.exp(o.proposeEveryMs), PROPOSE, 0)
    this.at(this.clientRng.exp(o.readEveryMs), READ, 0)
    this.at(this.clientRng.exp(o.transferEveryMs), TRANSFER, 0)
    this.at(this.diskRng.exp(o.snapshotEveryMs / this.ids.length), SNAPSHOT_TRIGGER, 0)
    this.faults.start()
    this.at(o.safetyMs, END_SAFETY, 0)
    this.runEvents(
      () => this.finished,
      (ev) => this.dispatch(ev)
    )
    return { seed: o.seed, nodes: this.ids.length, ...this.runOutcome() }
  }

  private dispatch(ev: SimEvent): void {
    if (this.faults.dispatch(ev)) return
    switch (ev.kind) {
      case PROPOSE:
        return this.onPropose()
      case READ:
        return this.onRead()
      case TRANSFER:
        return this.onTransfer()
      case SNAPSHOT_TRIGGER:
        return this.onSnapshotTrigger()
      case SNAPSHOT_SAVED:
        return this.onSnapshotSaved(ev)
      case END_SAFETY:
        return this.onEndSafety()
      case LIVENESS:
        return this.onLiveness()
    }
  }

  protected override afterNodeStep(n: SimNode): void {
    super.afterNodeStep(n)
    const s = n.state
    if (s === undefined || s.role !== "leader") return
    if (this.leaderTerm[n.id] !== s.term) {
      this.leaderTerm[n.id] = s.term
      this.faults.onNewLeader(n)
    }
    const t = this.transfer
    if (t === undefined) return
    if (this.now > t.deadline) this.transfer = undefined
    else if (n.id === t.to && s.term > t.term) {
      this.stats.transfers++
      this.transfer = undefined
    }
  }

  // -------------------------------------------------------------------------------------------
  // Clients
  // -------------------------------------------------------------------------------------------

  protected override onProposed(n: SimNode, id: number, firstIndex: number, term: number): void {
    this.leaderHint = n.id
    const data = this.proposalData.get(id)
    if (data === undefined) {
      this.checker.fail(
        Invariant.runtimeContract,
        `n${n.id} reports proposal #${id} accepted, never proposed`
      )
      return
    }
    this.proposalData.delete(id)
    this.expectProposal(firstIndex, term, data)
    if (this.marker !== undefined && this.marker.id === id) this.marker = { id, index: firstIndex, term }
  }

  protected override onProposalDropped(id: number, leader: NodeId): void {
    this.proposalData.delete(id)
    this.onLeaderHint(leader)
    if (this.marker !== undefined && this.marker.id === id) this.marker = undefined
  }

  protected override onLeaderHint(leader: NodeId): void {
    if (leader !== NONE) this.leaderHint = leader
  }

  /** Where a client sends a request: mostly the leader it last heard of, else anyone up. */
  private clientTarget(): SimNode | undefined {
    const hinted = this.leaderHint !== NONE ? this.node(this.leaderHint) : undefined
    if (hinted?.up && this.clientRng.chance(0.8)) return hinted
    const up = this.upNodes()
    return up.length === 0 ? undefined : this.clientRng.pick(up)
  }

  /** Propose 1-3 small unique payloads at `n` (with `reads` riding along, as the runtime sends a
   * turn's reads with its proposal); returns the proposal id. */
  private propose(n: SimNode, reads: ReadonlyArray<number> = []): number {
    const rng = this.clientRng
    const id = this.nextProposalId++
    const data: Uint8Array[] = []
    for (let k = rng.int(1, 4); k > 0; k--) {
      const bytes = new Uint8Array(rng.int(8, 25))
      new DataView(bytes.buffer).setUint32(0, id)
      bytes[4] = data.length
      for (let b = 5; b < bytes.length; b++) bytes[b] = rng.int(0, 256)
      data.push(bytes)
    }
    this.proposalData.set(id, data)
    this.stats.proposals++
    this.deliver(
      n,
      reads.length > 0
        ? { _tag: "Propose", ...this.eventBase(n), id, data, reads }
        : { _tag: "Propose", ...this.eventBase(n), id, data }
    )
    return id
  }

  private onPropose(): void {
    this.at(this.now + this.clientRng.exp(this.opts.proposeEveryMs), PROPOSE, 0)
    const n = this.clientTarget()
    if (n === undefined) return
    // A third of proposals carry reads that arrived in the same turn.
    this.propose(n, this.clientRng.chance(1 / 3) ? this.issueReads(n) : [])
  }

  private onRead(): void {
    this.at(this.now + this.clientRng.exp(this.opts.readEveryMs), READ, 0)
    const n = this.clientTarget()
    if (n === undefined) return
    this.deliver(n, { _tag: "ReadIndex", ...this.eventBase(n), ids: this.issueReads(n) })
  }

  /** 1-3 new linearizable reads at `n`, registered with the checker. */
  private issueReads(n: SimNode): Array<number> {
    const ids: number[] = []
    for (let k = this.clientRng.int(1, 4); k > 0; k--) {
      const id = this.nextReadId++
      this.checker.readIssued(id, n.id)
      ids.push(id)
      if (this.phase === "liveness") this.livenessReads.push({ id, node: n.id, at: this.now })
    }
    return ids
  }

  private onTransfer(): void {
    if (this.phase !== "safety") return
    this.at(this.now + this.clientRng.exp(this.opts.transferEveryMs), TRANSFER, 0)
    const target = this.transferTarget()
    if (target === undefined) return
    const { leader, to } = target
    this.transfer = {
      to,
      term: leader.state!.term,
      deadline: this.now + 3 * leader.config.electionTimeoutMax
    }
    this.requestTransfer(leader, to)
  }

  // -------------------------------------------------------------------------------------------
  // State machine snapshots: serialize now, durable after a disk delay, then reported
  // -------------------------------------------------------------------------------------------

  private onSnapshotTrigger(): void {
    this.at(this.now + this.diskRng.exp(this.opts.snapshotEveryMs / this.ids.length), SNAPSHOT_TRIGGER, 0)
    const n = this.node(this.diskRng.pick(this.ids))
    const m = n.machine
    if (!n.up || m.applied <= (n.disk.snapshot?.meta.index ?? 0)) return
    // Several chunks' worth, so transfers are multi-chunk.
    const chunk = n.config.snapshotChunkBytes
    const size = Math.max(SNAPSHOT_HEADER_BYTES, this.diskRng.int(Math.floor(chunk * 1.5), chunk * 6))
    const snapshot: PendingSnapshot = { index: m.applied, term: m.term, data: serializeSnapshot(m, size) }
    this.at(this.now + this.diskDelay(), SNAPSHOT_SAVED, n.id, n.inc, 0, snapshot)
  }

  private onSnapshotSaved(ev: SimEvent): void {
    const n = this.node(ev.node)
    const snap = ev.payload as PendingSnapshot
    if (!n.up || ev.inc !== n.inc || snap.index <= (n.disk.snapshot?.meta.index ?? 0)) return
    const meta = { index: snap.index, term: snap.term, size: snap.data.length }
    n.disk.saveLocalSnapshot({ meta, data: snap.data })
    this.stats.snapshots++
    this.deliver(n, { _tag: "SnapshotTaken", ...this.eventBase(n), index: meta.index, size: meta.size })
  }

  // -------------------------------------------------------------------------------------------
  // Liveness phase
  // -------------------------------------------------------------------------------------------

  private onEndSafety(): void {
    this.phase = "liveness"
    this.healAt = this.now
    this.faults.stop("liveness phase: network healed, every node up")
    this.at(this.now + 50, LIVENESS, 0)
  }

  /** A leader that every node follows, if there is one. */
  private agreedLeader(): SimNode | undefined {
    const leader = this.currentLeader()
    if (leader === undefined) return undefined
    const { term } = leader.state!
    for (const n of this.nodes) {
      const s = n.state
      if (!n.up || s === undefined || s.term !== term || s.leader !== leader.id) return undefined
    }
    return leader
  }

  private onLiveness(): void {
    if (this.now > this.healAt + this.opts.livenessMs) {
      this.checker.fail(Invariant.liveness, this.livenessReport())
      return
    }
    this.at(this.now + 50, LIVENESS, 0)
    const leader = this.agreedLeader()
    if (leader === undefined) return
    const m = this.marker
    if (m === undefined) {
      this.marker = { id: this.nextProposalId, index: 0, term: 0 }
      this.propose(leader)
      return
    }
    if (m.index === 0) return
    const applied = this.checker.appliedTerm[m.index]
    if (applied !== undefined && applied !== m.term) {
      this.marker = undefined // lost to a leader change: propose again
      return
    }
    if (!this.nodes.every((n) => n.machine.applied >= m.index)) return
    // Reads must not hang either: every read issued since healing, up to a second ago, has been
    // answered (served or failed). The phase lasts long enough for that to mean something.
    if (this.now < this.healAt + Math.min(MIN_LIVENESS_MS, this.opts.livenessMs / 2)) return
    const hung = this.livenessReads.filter((r) => r.at <= this.now - 1000 && !this.checker.readAnswered(r.id))
    if (hung.length > 0) {
      const r = hung[0]!
      this.checker.fail(
        Invariant.liveness,
        `${hung.length} reads issued after healing never answered, e.g. read ${r.id} at n${r.node} at ${r.at.toFixed(3)} ms`
      )
      return
    }
    this.finished = true
  }

  private livenessReport(): string {
    const leader = this.agreedLeader()
    const m = this.marker
    const states = this.nodes
      .map((n) => {
        const s = n.state
        return s === undefined
          ? `n${n.id} down`
          : `n${n.id} ${s.role} t${s.term} leader n${s.leader} last ${Log.lastIndex(s.log)} commit ${s.commitIndex} applied ${n.machine.applied}`
      })
      .join("; ")
    const what =
      leader === undefined
        ? "no leader followed by every node"
        : m === undefined || m.index === 0
          ? `leader n${leader.id} never accepted a proposal`
          : `proposal at index ${m.index} (term ${m.term}) not applied on every node`
    const progress =
      leader === undefined
        ? ""
        : `; leader n${leader.id} progress: ${[...leader.state!.progress]
            .map(
              ([id, p]) => `n${id} ${p.mode} match ${p.match} next ${p.next} inflight ${p.inflight.length}`
            )
            .join(", ")}`
    return `${what} within ${this.opts.livenessMs} ms of healing: ${states}${progress}`
  }
}

/** Run one seed (options not given take their defaults). */
export const runSeed = (options: Partial<SimOptions> & { readonly seed: number }): SimResult => {
  const opts = { ...defaultOptions, ...options }
  return new Simulation(opts, nodesForSeed(opts.seed, opts.nodes)).run()
}
