/**
 * One KV simulation run: clients working against the cluster through a safety phase of faults,
 * a heal phase, then the final reads and the replicas' convergence.
 *
 * The faults are the simulator's (test/sim/simulator.ts), drawn the same way from the seed's
 * fault stream: crashes (short, or long enough to need InstallSnapshot; the leader now and then),
 * symmetric splits, an isolated or half-deaf leader, random one-way link cuts, changes of loss /
 * duplication / delay / reordering, a quarter of new leaders struck within their first 40 ms, and
 * leadership transfers.
 *
 * Phases: `safety` (faults) -> `heal` (network healed and calm, every node up; clients keep
 * working for `healMs`) -> `drain` (no new ops; running ops finish or time out) -> `final` (one
 * linearizable read of every key, retried until answered) -> `converge` (every node has applied
 * everything committed and holds the same value for every key). The run fails with `Liveness`
 * when this has not happened within `livenessMs` of healing.
 */
import { Invariant, type Violation } from "../sim/invariants.ts"
import { calmNetwork, randomProfile } from "../sim/network.ts"
import type { SimNode } from "../sim/node.ts"
import type { SimEvent, SimStats } from "../sim/runtime.ts"
import { type ClientHost, type ClientStats, SimClient, type Timer } from "./client.ts"
import { KV_WORKLOAD_KIND, KvCluster, type KvStats } from "./cluster.ts"
import { History } from "./history.ts"
import type { KvSettings, KvSimOptions } from "./options.ts"
import { type Answer, type Envelope, endpointOf, nodeOf } from "./wire.ts"

const RESTART = KV_WORKLOAD_KIND
const HEAL = KV_WORKLOAD_KIND + 1
const FAULT = KV_WORKLOAD_KIND + 2
const TRANSFER = KV_WORKLOAD_KIND + 3
const END_SAFETY = KV_WORKLOAD_KIND + 4
const STOP_CLIENTS = KV_WORKLOAD_KIND + 5
const LIVENESS = KV_WORKLOAD_KIND + 6
const LEADER_FAULT = KV_WORKLOAD_KIND + 7
const CLIENT_TIMER = KV_WORKLOAD_KIND + 8

/** The final reads' client. */
const FINAL_CLIENT = 0

export interface KvRunResult {
  readonly seed: number
  readonly settings: KvSettings
  readonly violation: (Violation & { readonly time: number }) | undefined
  readonly history: History
  readonly stats: SimStats
  readonly kvStats: KvStats
  readonly clientStats: ClientStats
  /** Hash of the core's history: equal for two runs of one seed. */
  readonly traceHash: number
  readonly tail: ReadonlyArray<string>
}

type Phase = "safety" | "heal" | "drain" | "final" | "converge"

export class KvSimulation extends KvCluster {
  readonly history = new History()
  readonly clientStats: ClientStats = {
    ops: 0,
    retries: 0,
    sessionsOpened: 0,
    sessionExpired: 0,
    staleSequence: 0,
    redoneWrites: 0
  }
  private phase: Phase = "safety"
  private finished = false
  private healAt = 0
  private partitionGen = 0
  private nextAttempt = 1
  /** The term each node was last seen leading (to notice new leaders). */
  private readonly leaderTerm: number[] = []
  /** Clients by id; id 0 does the final reads. */
  private readonly clients: SimClient[] = []

  constructor(opts: KvSimOptions, settings: KvSettings) {
    super(opts, settings)
    const host: ClientHost = {
      now: () => this.now,
      send: (client, attempt, endpoint, request) =>
        this.sendRequest(client.id, attempt, nodeOf(endpoint), request),
      wake: (client, at, timer) => this.at(at, CLIENT_TIMER, 0, 0, client.id, timer),
      nextAttempt: () => this.nextAttempt++,
      trace: (line) => this.opts.onTrace?.(`${this.now.toFixed(3)} ${line}`)
    }
    const endpoints = this.ids.map(endpointOf)
    for (let id = 0; id <= settings.clients; id++) {
      const cfg = {
        id,
        endpoints,
        keys: this.keyNames,
        window: id === FINAL_CLIENT ? 0 : settings.clientWindow,
        sessionWindow: settings.sessionWindow,
        opTimeoutMs: settings.opTimeoutMs,
        thinkMs: opts.thinkMs,
        valuePad: settings.valuePad,
        newSeqOnRetry: opts.inject.includes("new-seq-on-retry")
      }
      this.clients.push(
        new SimClient(cfg, host, this.history, this.clientRng.fork(`c${id}`), this.clientStats)
      )
    }
  }

  run(): KvRunResult {
    const o = this.kvOpts
    for (const n of this.nodes) this.start(n)
    for (const c of this.clients) c.start()
    this.at(this.faultRng.exp(o.faultEveryMs), FAULT, 0)
    this.at(this.clientRng.exp(o.transferEveryMs), TRANSFER, 0)
    this.at(o.safetyMs, END_SAFETY, 0)
    while (!this.finished && !this.failed) {
      const ev = this.queue.pop()
      if (ev === undefined) break
      this.now = ev.time
      if (!this.dispatchRuntime(ev) && !this.dispatchKv(ev)) this.dispatch(ev)
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
      settings: this.settings,
      violation: v === undefined ? undefined : { ...v, time: this.now },
      history: this.history,
      stats: s,
      kvStats: this.kvStats,
      clientStats: this.clientStats,
      traceHash: this.hash,
      tail: this.tail()
    }
  }

  private dispatch(ev: SimEvent): void {
    switch (ev.kind) {
      case CLIENT_TIMER:
        return this.clients[ev.from]!.onTimer(ev.payload as Timer)
      case RESTART: {
        const n = this.node(ev.node)
        if (!n.up && n.inc === ev.inc) this.start(n)
        return
      }
      case HEAL:
        if (ev.inc === this.partitionGen) this.heal()
        return
      case FAULT:
        return this.onFault()
      case TRANSFER:
        return this.onTransfer()
      case END_SAFETY:
        return this.onEndSafety()
      case STOP_CLIENTS:
        for (const c of this.clients) c.stopped = true
        this.phase = "drain"
        return
      case LIVENESS:
        return this.onLiveness()
      case LEADER_FAULT:
        return this.onLeaderFault(ev)
    }
  }

  protected override onAnswer(env: Envelope, answer: Answer): void {
    this.clients[env.client]!.onAnswer(env.attempt, endpointOf(env.node), answer)
  }

  protected override afterNodeStep(n: SimNode): void {
    super.afterNodeStep(n)
    const s = n.state
    if (s === undefined || s.role !== "leader" || this.leaderTerm[n.id] === s.term) return
    this.leaderTerm[n.id] = s.term
    // A new leader is the most fragile moment (paper Figure 8): now and then strike it at once.
    if (this.phase === "safety" && this.faultRng.chance(this.kvOpts.leaderFaultChance)) {
      this.at(this.now + this.faultRng.range(0.5, 40), LEADER_FAULT, n.id, n.inc)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Faults (safety phase only), as test/sim/simulator.ts draws them
  // -------------------------------------------------------------------------------------------

  private upNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up)
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

  private onFault(): void {
    if (this.phase !== "safety") return
    const rng = this.faultRng
    this.at(this.now + rng.exp(this.kvOpts.faultEveryMs), FAULT, 0)
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

  private onLeaderFault(ev: SimEvent): void {
    const n = this.node(ev.node)
    if (this.phase !== "safety" || !n.up || n.inc !== ev.inc) return
    if (this.faultRng.chance(0.5)) return this.crashFor(n, this.faultRng.range(5, 600))
    this.network.healAll()
    this.network.splitSymmetric(new Set([n.id]))
    this.stats.partitions++
    this.partitionGen++
    this.note(n.id, "partition: isolate the new leader")
    this.at(this.now + this.faultRng.range(50, 800), HEAL, 0, this.partitionGen)
  }

  private crashSomeone(): void {
    const rng = this.faultRng
    const up = this.upNodes()
    if (up.length === 0) return
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

  private onTransfer(): void {
    if (this.phase !== "safety") return
    this.at(this.now + this.clientRng.exp(this.kvOpts.transferEveryMs), TRANSFER, 0)
    const leader = this.currentLeader()
    if (leader === undefined) return
    const to = this.clientRng.pick(this.ids.filter((id) => id !== leader.id))
    this.deliver(leader, { _tag: "TransferLeadership", ...this.eventBase(leader), to })
  }

  // -------------------------------------------------------------------------------------------
  // Heal, drain, final reads, convergence
  // -------------------------------------------------------------------------------------------

  private onEndSafety(): void {
    this.phase = "heal"
    this.healAt = this.now
    this.network.healAll()
    this.network.profile = calmNetwork
    this.note(0, "heal phase: network healed, every node up")
    for (const n of this.nodes) if (!n.up) this.start(n)
    if (this.faultRng.chance(this.kvOpts.fullRestartChance)) {
      // Every node at once: what was acknowledged must survive on the disks alone.
      this.note(0, "full restart")
      this.kvStats.fullRestarts++
      for (const n of this.nodes) this.crashFor(n, this.faultRng.range(5, 100))
    }
    for (const c of this.clients) c.idlePauses = false
    this.at(this.now + this.kvOpts.healMs, STOP_CLIENTS, 0)
    this.at(this.now + 50, LIVENESS, 0)
  }

  private onLiveness(): void {
    if (this.now > this.healAt + this.kvOpts.livenessMs) {
      this.checker.fail(
        Invariant.liveness,
        `not done within ${this.kvOpts.livenessMs} ms of healing: ${this.livenessReport()}`
      )
      return
    }
    this.at(this.now + 50, LIVENESS, 0)
    if (this.phase === "drain" && this.clients.every((c) => !c.busy)) {
      this.phase = "final"
      const final = this.clients[FINAL_CLIENT]!
      for (const key of this.keyNames) final.finalRead(key, this.kvOpts.livenessMs)
    } else if (this.phase === "final") {
      const finals = this.history.ops.filter((r) => r.final)
      if (finals.some((r) => r.status === "running")) return
      const failed = finals.find((r) => r.status !== "done")
      if (failed !== undefined) {
        this.checker.fail(Invariant.liveness, `the final read of ${failed.key} was never answered`)
        return
      }
      this.phase = "converge"
    } else if (this.phase === "converge") {
      const detail = this.divergence()
      if (detail === "not yet") return
      if (detail !== undefined) this.failKv("KV State Machine Safety", detail)
      else this.finished = true
    }
  }

  /**
   * Once every node is up, follows one leader and has applied everything that leader committed:
   * undefined when all hold the same value for every key, else the difference. "not yet" before.
   */
  private divergence(): string | undefined {
    const leader = this.currentLeader()
    if (leader === undefined) return "not yet"
    const s = leader.state!
    const kvs = this.nodes.map((n) => ({ id: n.id, kv: this.kvOf(n.id), st: n.state }))
    for (const { kv, st } of kvs) {
      if (kv === undefined || st === undefined) return "not yet"
      if (st.leader !== leader.id || st.commitIndex !== s.commitIndex || kv.appliedIndex !== s.commitIndex) {
        return "not yet"
      }
    }
    for (let k = 0; k < this.keyNames.length; k++) {
      const want = this.describeKey(kvs[0]!.kv!, k)
      for (const { id, kv } of kvs) {
        const got = this.describeKey(kv!, k)
        if (got !== want) {
          return `after healing, at index ${s.commitIndex}, n${kvs[0]!.id} holds ${this.keyNames[k]} = ${want} but n${id} holds ${got}`
        }
      }
    }
    return undefined
  }

  private livenessReport(): string {
    const running = this.history.ops.filter((r) => r.status === "running").length
    const nodes = this.nodes
      .map((n) => {
        const s = n.state
        return s === undefined
          ? `n${n.id} down`
          : `n${n.id} ${s.role} t${s.term} leader n${s.leader} commit ${s.commitIndex} applied ${this.kvOf(n.id)?.appliedIndex}`
      })
      .join("; ")
    return `phase ${this.phase}, ${running} ops running; ${nodes}`
  }
}

/** Run the simulation of one seed (no history check: see run.ts). */
export const simulate = (opts: KvSimOptions, settings: KvSettings): KvRunResult =>
  new KvSimulation(opts, settings).run()
