/**
 * One KV simulation run: clients working against the cluster through a safety phase of faults,
 * a heal phase, then the final reads and the replicas' convergence.
 *
 * The faults are the simulator's (test/sim/faults.ts), drawn from the seed's fault stream:
 * crashes (short, or long enough to need InstallSnapshot; the leader now and then),
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
import { FaultSchedule } from "../sim/faults.ts"
import { Invariant } from "../sim/invariants.ts"
import type { SimNode } from "../sim/node.ts"
import type { RunOutcome, SimEvent } from "../sim/runtime.ts"
import { type ClientHost, type ClientStats, SimClient, type Timer } from "./client.ts"
import { KV_WORKLOAD_KIND, KvCluster, type KvStats } from "./cluster.ts"
import { History } from "./history.ts"
import type { KvSettings, KvSimOptions } from "./options.ts"
import { type Answer, type Envelope, endpointOf, nodeOf } from "./wire.ts"

// Workload event kinds (the fault schedule's come first).
const TRANSFER = KV_WORKLOAD_KIND + FaultSchedule.kinds
const END_SAFETY = TRANSFER + 1
const STOP_CLIENTS = TRANSFER + 2
const LIVENESS = TRANSFER + 3
const CLIENT_TIMER = TRANSFER + 4

/** The final reads' client. */
const FINAL_CLIENT = 0

export interface KvRunResult extends RunOutcome {
  readonly seed: number
  readonly settings: KvSettings
  readonly history: History
  readonly kvStats: KvStats
  readonly clientStats: ClientStats
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
  private readonly faults = new FaultSchedule(
    { cluster: this, faultRng: this.faultRng, netRng: this.netRng, now: () => this.now },
    this.kvOpts,
    KV_WORKLOAD_KIND
  )
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
    this.faults.start()
    this.at(this.clientRng.exp(o.transferEveryMs), TRANSFER, 0)
    this.at(o.safetyMs, END_SAFETY, 0)
    this.runEvents(
      () => this.finished,
      (ev) => {
        if (!this.dispatchKv(ev)) this.dispatch(ev)
      }
    )
    return {
      seed: o.seed,
      settings: this.settings,
      history: this.history,
      kvStats: this.kvStats,
      clientStats: this.clientStats,
      ...this.runOutcome()
    }
  }

  private dispatch(ev: SimEvent): void {
    if (this.faults.dispatch(ev)) return
    switch (ev.kind) {
      case CLIENT_TIMER:
        return this.clients[ev.from]!.onTimer(ev.payload as Timer)
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
    this.faults.onNewLeader(n)
  }

  // -------------------------------------------------------------------------------------------
  // Leadership transfers (safety phase only)
  // -------------------------------------------------------------------------------------------

  private onTransfer(): void {
    if (this.phase !== "safety") return
    this.at(this.now + this.clientRng.exp(this.kvOpts.transferEveryMs), TRANSFER, 0)
    const target = this.transferTarget()
    if (target !== undefined) this.requestTransfer(target.leader, target.to)
  }

  // -------------------------------------------------------------------------------------------
  // Heal, drain, final reads, convergence
  // -------------------------------------------------------------------------------------------

  private onEndSafety(): void {
    this.phase = "heal"
    this.healAt = this.now
    this.faults.stop("heal phase: network healed, every node up")
    if (this.faultRng.chance(this.kvOpts.fullRestartChance)) {
      // Every node at once: what was acknowledged must survive on the disks alone.
      this.note(0, "full restart")
      this.kvStats.fullRestarts++
      for (const n of this.nodes) this.faults.crashFor(n, this.faultRng.range(5, 100))
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
