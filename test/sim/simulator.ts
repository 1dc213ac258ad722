import { Log, NONE, type NodeId } from "../../src/core/index.ts"
import { Invariant, type Violation } from "./invariants.ts"
import { calmNetwork, randomProfile } from "./network.ts"
import type { SimNode } from "./node.ts"
import { defaultOptions, type SimOptions } from "./options.ts"
import { Prng } from "./prng.ts"
import { Cluster, FIRST_WORKLOAD_KIND, type SimEvent, type SimStats } from "./runtime.ts"
import { SNAPSHOT_HEADER_BYTES, serializeSnapshot } from "./statemachine.ts"

export { emptyStats, type SimStats } from "./runtime.ts"

export interface SimResult {
  readonly seed: number
  readonly nodes: number
  readonly violation: (Violation & { readonly time: number }) | undefined
  readonly stats: SimStats
  /** Hash of the whole history: equal for two runs of one seed. */
  readonly traceHash: number
  /** The last trace lines (formatted), for a violation report. */
  readonly tail: ReadonlyArray<string>
}

// Workload event kinds.
const RESTART = FIRST_WORKLOAD_KIND
const HEAL = FIRST_WORKLOAD_KIND + 1
const PROPOSE = FIRST_WORKLOAD_KIND + 2
const READ = FIRST_WORKLOAD_KIND + 3
const FAULT = FIRST_WORKLOAD_KIND + 4
const TRANSFER = FIRST_WORKLOAD_KIND + 5
const SNAPSHOT_TRIGGER = FIRST_WORKLOAD_KIND + 6
const SNAPSHOT_SAVED = FIRST_WORKLOAD_KIND + 7
const END_SAFETY = FIRST_WORKLOAD_KIND + 8
const LIVENESS = FIRST_WORKLOAD_KIND + 9
const LEADER_FAULT = FIRST_WORKLOAD_KIND + 10

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
  private partitionGen = 0
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
    this.at(this.faultRng.exp(o.faultEveryMs), FAULT, 0)
    this.at(o.safetyMs, END_SAFETY, 0)
    while (!this.finished && !this.failed) {
      const ev = this.queue.pop()
      if (ev === undefined) break
      this.now = ev.time
      if (!this.dispatchRuntime(ev)) this.dispatch(ev)
      if (this.stats.steps > o.maxSteps) {
        this.checker.fail(Invariant.liveness, `more than ${o.maxSteps} steps (a livelock?)`)
      }
    }
    const s = this.stats
    s.elections = this.checker.leaders.size
    s.commits = this.checker.committedMax
    s.virtualMs = Math.round(this.now)
    for (const n of this.nodes) s.droppedUnchainedLogs += n.disk.droppedUnchainedLogs
    const v = this.checker.violation
    return {
      seed: o.seed,
      nodes: this.ids.length,
      violation: v === undefined ? undefined : { ...v, time: this.now },
      stats: s,
      traceHash: this.hash,
      tail: this.tail()
    }
  }

  private dispatch(ev: SimEvent): void {
    switch (ev.kind) {
      case RESTART: {
        const n = this.node(ev.node)
        if (!n.up && n.inc === ev.inc) this.start(n)
        return
      }
      case HEAL:
        if (ev.inc === this.partitionGen) this.heal()
        return
      case PROPOSE:
        return this.onPropose()
      case READ:
        return this.onRead()
      case FAULT:
        return this.onFault()
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
      case LEADER_FAULT:
        return this.onLeaderFault(ev)
    }
  }

  protected override afterNodeStep(n: SimNode): void {
    super.afterNodeStep(n)
    const s = n.state
    if (s === undefined || s.role !== "leader") return
    if (this.leaderTerm[n.id] !== s.term) {
      this.leaderTerm[n.id] = s.term
      this.onNewLeader(n)
    }
    const t = this.transfer
    if (t === undefined) return
    if (this.now > t.deadline) this.transfer = undefined
    else if (n.id === t.to && s.term > t.term) {
      this.stats.transfers++
      this.transfer = undefined
    }
  }

  /**
   * A new leader is the most fragile moment: it may hold entries of earlier terms that it has not
   * committed yet (paper Figure 8). Now and then strike it right away, before its first entries
   * reach everyone.
   */
  private onNewLeader(n: SimNode): void {
    if (this.phase !== "safety" || !this.faultRng.chance(this.opts.leaderFaultChance)) return
    this.at(this.now + this.faultRng.range(0.5, 40), LEADER_FAULT, n.id, n.inc)
  }

  private onLeaderFault(ev: SimEvent): void {
    const n = this.node(ev.node)
    if (this.phase !== "safety" || !n.up || n.inc !== ev.inc) return
    if (this.faultRng.chance(0.5)) {
      this.crashFor(n, this.faultRng.range(5, 600))
    } else {
      this.network.healAll()
      this.network.splitSymmetric(new Set([n.id]))
      this.stats.partitions++
      this.partitionGen++
      this.note(n.id, "partition: isolate the new leader")
      this.at(this.now + this.faultRng.range(50, 800), HEAL, 0, this.partitionGen)
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

  private upNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up)
  }

  /** Where a client sends a request: mostly the leader it last heard of, else anyone up. */
  private clientTarget(): SimNode | undefined {
    const hinted = this.leaderHint !== NONE ? this.node(this.leaderHint) : undefined
    if (hinted?.up && this.clientRng.chance(0.8)) return hinted
    const up = this.upNodes()
    return up.length === 0 ? undefined : this.clientRng.pick(up)
  }

  /** Propose 1-3 small unique payloads at `n`; returns the proposal id. */
  private propose(n: SimNode): number {
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
    this.deliver(n, { _tag: "Propose", ...this.eventBase(n), id, data })
    return id
  }

  private onPropose(): void {
    this.at(this.now + this.clientRng.exp(this.opts.proposeEveryMs), PROPOSE, 0)
    const n = this.clientTarget()
    if (n !== undefined) this.propose(n)
  }

  private onRead(): void {
    this.at(this.now + this.clientRng.exp(this.opts.readEveryMs), READ, 0)
    const n = this.clientTarget()
    if (n === undefined) return
    const ids: number[] = []
    for (let k = this.clientRng.int(1, 4); k > 0; k--) {
      const id = this.nextReadId++
      this.checker.readIssued(id, n.id)
      ids.push(id)
      if (this.phase === "liveness") this.livenessReads.push({ id, node: n.id, at: this.now })
    }
    this.deliver(n, { _tag: "ReadIndex", ...this.eventBase(n), ids })
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes) {
      const s = n.state
      if (n.up && s !== undefined && s.role === "leader" && (best === undefined || s.term > best.state!.term))
        best = n
    }
    return best
  }

  private onTransfer(): void {
    if (this.phase !== "safety") return
    this.at(this.now + this.clientRng.exp(this.opts.transferEveryMs), TRANSFER, 0)
    const leader = this.currentLeader()
    if (leader === undefined) return
    const to = this.clientRng.pick(this.ids.filter((id) => id !== leader.id))
    this.transfer = {
      to,
      term: leader.state!.term,
      deadline: this.now + 3 * leader.config.electionTimeoutMax
    }
    this.deliver(leader, { _tag: "TransferLeadership", ...this.eventBase(leader), to })
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
  // Faults (safety phase only)
  // -------------------------------------------------------------------------------------------

  private onFault(): void {
    if (this.phase !== "safety") return
    const rng = this.faultRng
    this.at(this.now + rng.exp(this.opts.faultEveryMs), FAULT, 0)
    const r = rng.next()
    if (r < 0.3) this.crashSomeone()
    else if (r < 0.6) this.partition()
    else if (r < 0.85) {
      this.network.profile = randomProfile(this.netRng)
      const p = this.network.profile
      this.note(
        0,
        `network: loss ${p.loss.toFixed(2)} dup ${p.duplicate.toFixed(2)} slow ${p.slow.toFixed(2)}`
      )
    } else this.heal()
  }

  private crashSomeone(): void {
    const rng = this.faultRng
    const up = this.upNodes()
    if (up.length === 0) return
    // The leader now and then: that is where the interesting races are.
    const leader = this.currentLeader()
    const n = leader !== undefined && rng.chance(0.3) ? leader : rng.pick(up)
    // Mostly short outages; some long ones leave a follower far behind (InstallSnapshot).
    this.crashFor(n, rng.chance(0.25) ? rng.range(800, 2500) : rng.range(5, 400))
  }

  private crashFor(n: SimNode, down: number): void {
    this.crash(n)
    this.note(n.id, `crash (down ${down.toFixed(0)} ms)`)
    this.at(this.now + down, RESTART, n.id, n.inc)
  }

  private partition(): void {
    const rng = this.faultRng
    const net = this.network
    net.healAll()
    const leader = this.currentLeader()
    const kind = rng.int(0, 4)
    let what: string
    if (kind === 0 || leader === undefined) {
      const side = new Set(this.ids.filter(() => rng.chance(0.5)))
      if (side.size === this.ids.length) side.clear()
      if (side.size === 0) side.add(rng.pick(this.ids))
      net.splitSymmetric(side)
      what = `split {${[...side].join(",")}} | rest`
    } else if (kind === 1) {
      net.splitSymmetric(new Set([leader.id]))
      what = `isolate leader n${leader.id}`
    } else if (kind === 2) {
      // One-way: the leader hears nobody, or nobody hears it.
      const deaf = rng.chance(0.5)
      for (const id of this.ids) {
        if (id === leader.id) continue
        if (deaf) net.block(id, leader.id)
        else net.block(leader.id, id)
      }
      what = `leader n${leader.id} ${deaf ? "hears nobody" : "is heard by nobody"}`
    } else {
      const cut: string[] = []
      for (const a of this.ids) {
        for (const b of this.ids) {
          if (a !== b && rng.chance(0.3)) {
            net.block(a, b)
            cut.push(`${a}>${b}`)
          }
        }
      }
      what = `cut links ${cut.join(" ")}`
    }
    this.stats.partitions++
    this.partitionGen++
    this.note(0, `partition: ${what}`)
    this.at(this.now + rng.range(100, 2000), HEAL, 0, this.partitionGen)
  }

  private heal(): void {
    if (!this.network.partitioned()) return
    this.network.healAll()
    this.note(0, "heal")
  }

  // -------------------------------------------------------------------------------------------
  // Liveness phase
  // -------------------------------------------------------------------------------------------

  private onEndSafety(): void {
    this.phase = "liveness"
    this.healAt = this.now
    this.network.healAll()
    this.network.profile = calmNetwork
    this.note(0, "liveness phase: network healed, every node up")
    for (const n of this.nodes) if (!n.up) this.start(n)
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
