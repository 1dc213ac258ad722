import type { SimNode } from "./node.ts"
import type { Prng } from "./prng.ts"
import type { Cluster, SimEvent } from "./runtime.ts"
import { calmNetwork, randomProfile } from "./network.ts"

/** How often faults strike (virtual ms and probabilities). */
export interface FaultOptions {
  /** Mean interval between two faults. */
  readonly faultEveryMs: number
  /** Probability that a new leader is crashed or isolated within its first 40 ms. */
  readonly leaderFaultChance: number
}

/** What the fault schedule needs of the simulation that runs it. */
export interface FaultHost {
  readonly cluster: Cluster
  /** The seed's fault stream: every fault decision is drawn from it. */
  readonly faultRng: Prng
  /** The seed's network stream: new network profiles are drawn from it. */
  readonly netRng: Prng
  /** The current virtual time. */
  readonly now: () => number
}

/**
 * The fault schedule shared by the simulators: crashes (short, or long enough to need
 * InstallSnapshot; the leader now and then), symmetric splits, an isolated or half-deaf leader,
 * random one-way link cuts, changes of loss / duplication / delay / reordering, and new leaders
 * struck within their first 40 ms. Faults strike from `start()` to `stop()` (the safety phase);
 * crashed nodes restart and partitions heal on their own schedule whenever they fall.
 *
 * It uses the event kinds `firstKind` to `firstKind + FaultSchedule.kinds - 1`; the host hands
 * every event to `dispatch` first.
 */
export class FaultSchedule {
  /** How many event kinds the schedule uses. */
  static readonly kinds = 4

  /** Faults strike only while set. */
  private active = true
  private readonly host: FaultHost
  private readonly options: FaultOptions
  private readonly restartKind: number
  private readonly healKind: number
  private readonly faultKind: number
  private readonly leaderFaultKind: number
  /** Generation of the current partition: a heal scheduled for an earlier one is ignored. */
  private partitionGen = 0

  constructor(host: FaultHost, options: FaultOptions, firstKind: number) {
    this.host = host
    this.options = options
    this.restartKind = firstKind
    this.healKind = firstKind + 1
    this.faultKind = firstKind + 2
    this.leaderFaultKind = firstKind + 3
  }

  /** Schedule the first fault (draws from the fault stream). */
  start(): void {
    this.host.cluster.at(this.host.faultRng.exp(this.options.faultEveryMs), this.faultKind, 0)
  }

  /** Handle an event of the schedule; false when the kind is not one of its own. */
  dispatch(ev: SimEvent): boolean {
    switch (ev.kind) {
      case this.restartKind: {
        const n = this.host.cluster.node(ev.node)
        if (!n.up && n.inc === ev.inc) this.host.cluster.start(n)
        return true
      }
      case this.healKind:
        if (ev.inc === this.partitionGen) this.heal()
        return true
      case this.faultKind:
        this.onFault()
        return true
      case this.leaderFaultKind:
        this.onLeaderFault(ev)
        return true
      default:
        return false
    }
  }

  /**
   * A new leader is the most fragile moment: it may hold entries of earlier terms that it has not
   * committed yet (paper Figure 8). Now and then strike it right away, before its first entries
   * reach everyone.
   */
  onNewLeader(n: SimNode): void {
    const rng = this.host.faultRng
    if (!this.active || !rng.chance(this.options.leaderFaultChance)) return
    this.host.cluster.at(this.host.now() + rng.range(0.5, 40), this.leaderFaultKind, n.id, n.inc)
  }

  /**
   * End the faults: heal the network, make it calm, note `note` and restart every node that is
   * down. Restarts and heals already scheduled still happen (they find nothing to do).
   */
  stop(note: string): void {
    const c = this.host.cluster
    this.active = false
    c.network.healAll()
    c.network.profile = calmNetwork
    c.note(0, note)
    for (const n of c.nodes) if (!n.up) c.start(n)
  }

  /** Crash `n` and restart it `down` ms later. */
  crashFor(n: SimNode, down: number): void {
    const c = this.host.cluster
    c.crash(n)
    c.note(n.id, `crash (down ${down.toFixed(0)} ms)`)
    c.at(this.host.now() + down, this.restartKind, n.id, n.inc)
  }

  private onLeaderFault(ev: SimEvent): void {
    const { cluster: c, faultRng: rng } = this.host
    const n = c.node(ev.node)
    if (!this.active || !n.up || n.inc !== ev.inc) return
    if (rng.chance(0.5)) return this.crashFor(n, rng.range(5, 600))
    c.network.healAll()
    c.network.splitSymmetric(new Set([n.id]))
    this.partitioned(n.id, "partition: isolate the new leader", rng.range(50, 800))
  }

  private onFault(): void {
    if (!this.active) return
    const { cluster: c, faultRng: rng } = this.host
    c.at(this.host.now() + rng.exp(this.options.faultEveryMs), this.faultKind, 0)
    const r = rng.next()
    if (r < 0.3) this.crashSomeone()
    else if (r < 0.6) this.partition()
    else if (r < 0.85) {
      c.network.profile = randomProfile(this.host.netRng)
      const p = c.network.profile
      c.note(0, `network: loss ${p.loss.toFixed(2)} dup ${p.duplicate.toFixed(2)} slow ${p.slow.toFixed(2)}`)
    } else this.heal()
  }

  private crashSomeone(): void {
    const { cluster: c, faultRng: rng } = this.host
    const up = c.upNodes()
    if (up.length === 0) return
    // The leader now and then: that is where the interesting races are.
    const leader = c.currentLeader()
    const n = leader !== undefined && rng.chance(0.3) ? leader : rng.pick(up)
    // Mostly short outages; some long ones leave a follower far behind (InstallSnapshot).
    this.crashFor(n, rng.chance(0.25) ? rng.range(800, 2500) : rng.range(5, 400))
  }

  private partition(): void {
    const { cluster: c, faultRng: rng } = this.host
    const net = c.network
    const ids = c.ids
    net.healAll()
    const leader = c.currentLeader()
    const kind = rng.int(0, 4)
    let what: string
    if (kind === 0 || leader === undefined) {
      const side = new Set(ids.filter(() => rng.chance(0.5)))
      if (side.size === ids.length) side.clear()
      if (side.size === 0) side.add(rng.pick(ids))
      net.splitSymmetric(side)
      what = `split {${[...side].join(",")}} | rest`
    } else if (kind === 1) {
      net.splitSymmetric(new Set([leader.id]))
      what = `isolate leader n${leader.id}`
    } else if (kind === 2) {
      // One-way: the leader hears nobody, or nobody hears it.
      const deaf = rng.chance(0.5)
      for (const id of ids) {
        if (id === leader.id) continue
        if (deaf) net.block(id, leader.id)
        else net.block(leader.id, id)
      }
      what = `leader n${leader.id} ${deaf ? "hears nobody" : "is heard by nobody"}`
    } else {
      const cut: string[] = []
      for (const a of ids) {
        for (const b of ids) {
          if (a !== b && rng.chance(0.3)) {
            net.block(a, b)
            cut.push(`${a}>${b}`)
          }
        }
      }
      what = `cut links ${cut.join(" ")}`
    }
    this.partitioned(0, `partition: ${what}`, rng.range(100, 2000))
  }

  /** Count and note a new partition, and heal it after `lastsMs` unless another replaces it. */
  private partitioned(node: number, note: string, lastsMs: number): void {
    const c = this.host.cluster
    c.stats.partitions++
    this.partitionGen++
    c.note(node, note)
    c.at(this.host.now() + lastsMs, this.healKind, 0, this.partitionGen)
  }

  private heal(): void {
    const c = this.host.cluster
    if (!c.network.partitioned()) return
    c.network.healAll()
    c.note(0, "heal")
  }
}
