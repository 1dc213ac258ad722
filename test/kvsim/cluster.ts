/**
 * The simulated cluster with the real KV state machine on every node, serving clients as
 * src/server/KvHandlers.ts and the node runtime (src/runtime/RaftNode.ts) do:
 * - writes are proposals of encoded commands stamped with the node's wall clock (`at`); the
 *   answer is the result of applying that entry, or LeadershipLost when another entry was applied
 *   at its index or a snapshot covered it; Busy beyond a bound of pending proposals;
 * - linearizable gets go through ReadIndex, then read the local state machine;
 * - a node snapshots when the log applied since its last snapshot exceeds a (small) threshold:
 *   the KV stream is started at once and consumed chunk by chunk while entries keep being applied
 *   (as the runtime's detached snapshot writer does), then saved and reported with SnapshotTaken;
 * - restores (restart, InstallSnapshot) stream the snapshot back into the state machine in
 *   random-sized pieces.
 * The snapshot bytes are the hash machine's header (test/sim) followed by the KV stream, so the
 * simulator's own checks keep running unchanged.
 *
 * Extra check, KV state machine safety: every replica that applies an index has the same KV state
 * there (a digest of every key's value and version, the session count and the log time), and a
 * restored snapshot holds exactly the state applied at its index.
 */
import { type Entry, Log, type NodeId, NONE, type ReadFailed, type ReadReady } from "../../src/core/index.ts"
import { decodeCommand, encodeCommand, type Command as KvCommand } from "../../src/kv/command.ts"
import { deleteOutcome, putOutcome } from "../../src/kv/protocol.ts"
import type { ApplyResult } from "../../src/kv/results.ts"
import type { SnapshotStream } from "../../src/kv/snapshot.ts"
import { KvStateMachine } from "../../src/kv/state-machine.ts"
import { finish, mix, mixBytes, mixNumber } from "../sim/hash.ts"
import type { SimNode } from "../sim/node.ts"
import { defaultOptions } from "../sim/options.ts"
import { Prng } from "../sim/prng.ts"
import { Cluster, FIRST_WORKLOAD_KIND, type SimEvent } from "../sim/runtime.ts"
import {
  type MachineState,
  parseSnapshot,
  SNAPSHOT_HEADER_BYTES,
  serializeSnapshot
} from "../sim/statemachine.ts"
import type { KvSettings, KvSimOptions } from "./options.ts"
import { type Answer, type Envelope, endpointOf, type Request } from "./wire.ts"

/** Violations found by the KV layer (besides the simulator's own invariants). */
export const KvInvariant = {
  kvSafety: "KV State Machine Safety",
  kvContract: "KV runtime contract"
} as const

// Event kinds of the KV runtime (the workload adds its own from KV_WORKLOAD_KIND).
const REQUEST = FIRST_WORKLOAD_KIND
const ANSWER = FIRST_WORKLOAD_KIND + 1
const SNAPSHOT_CHUNK = FIRST_WORKLOAD_KIND + 2
const SNAPSHOT_SAVED = FIRST_WORKLOAD_KIND + 3
const READS_DUE = FIRST_WORKLOAD_KIND + 4
export const KV_WORKLOAD_KIND = FIRST_WORKLOAD_KIND + 10

/** Everything the KV layer did in one run. */
export interface KvStats {
  requests: number
  proposals: number
  kvSnapshots: number
  kvRestores: number
  /** Snapshots during whose streaming later entries were applied (copy-on-write exercised). */
  kvSnapshotsUnderApply: number
  busy: number
  leadershipLost: number
  /** Every node crashed at once when the faults ended. */
  fullRestarts: number
  /** A proposal's waiter replaced by a later proposal at the same index before it was resolved
   * (the runtime keeps one waiter per index): its client only learns by its deadline. */
  orphanedWaiters: number
}

const emptyKvStats = (): KvStats => ({
  requests: 0,
  proposals: 0,
  kvSnapshots: 0,
  kvRestores: 0,
  kvSnapshotsUnderApply: 0,
  busy: 0,
  leadershipLost: 0,
  fullRestarts: 0,
  orphanedWaiters: 0
})

/** A snapshot being written: its stream, consumed a chunk at a time. */
interface SnapshotInFlight {
  readonly gen: number
  readonly index: number
  readonly term: number
  readonly stream: SnapshotStream
  readonly parts: Uint8Array[]
}

/** One node's KV service (volatile: a crash loses it). */
class NodeServer {
  readonly kv: KvStateMachine
  /** The client request waiting for the entry at each index, and the term it was proposed in. */
  readonly waiters = new Map<number, { readonly term: number; readonly env: Envelope }>()
  /** Linearizable reads waiting for their read index, by read id. */
  readonly reads = new Map<number, Envelope>()
  /** Reads held for the node's next proposal (as the runtime sends a turn's reads with it). */
  held: number[] = []
  pendingProposals = 0
  logBytes = 0
  snapshot: SnapshotInFlight | undefined = undefined

  constructor(kv: KvStateMachine) {
    this.kv = kv
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class KvCluster extends Cluster {
  protected readonly kvOpts: KvSimOptions
  protected readonly settings: KvSettings
  readonly kvStats = emptyKvStats()
  protected readonly keyNames: ReadonlyArray<string>
  private readonly keyBytes: ReadonlyArray<Uint8Array>
  private readonly servers: Array<NodeServer | undefined> = []
  /** Client-link delays, snapshot pacing and restore chunking. */
  protected readonly kvRng: Prng
  /** KV digest after applying each index (by the first node that applied it). */
  private readonly digests: number[] = []
  /** Proposals between Propose and Proposed/ProposalDropped (the core answers in the same step). */
  private readonly proposing = new Map<
    number,
    { readonly node: NodeId; readonly env: Envelope; readonly data: Uint8Array }
  >()
  private nextProposalId = 1
  private nextReadId = 1
  private snapshotGen = 0
  /** Wall-clock skew of each node's incarnation (ms), for the `at` stamps, and that incarnation. */
  private readonly skew: number[] = []
  private readonly skewInc: number[] = []

  constructor(opts: KvSimOptions, settings: KvSettings) {
    super(
      {
        ...defaultOptions,
        seed: opts.seed,
        nodes: settings.nodes,
        maxSteps: opts.maxSteps,
        traceTail: opts.traceTail,
        onTrace: opts.onTrace
      },
      settings.nodes
    )
    this.kvOpts = opts
    this.settings = settings
    this.kvRng = new Prng(opts.seed, 0x4b56).fork("kv")
    this.keyNames = Array.from({ length: settings.keys }, (_, k) => `k${k}`)
    this.keyBytes = this.keyNames.map((k) => encoder.encode(k))
  }

  // -------------------------------------------------------------------------------------------
  // The client link: requests to nodes, answers back
  // -------------------------------------------------------------------------------------------

  /** One-way delay between a client and a node: short, sometimes slow. */
  private clientDelay(): number {
    const rng = this.kvRng
    return 0.05 + rng.exp(0.4) + (rng.chance(0.02) ? rng.range(2, 40) : 0)
  }

  /** A client sends `request` to node `node`. */
  protected sendRequest(client: number, attempt: number, node: NodeId, request: Request): void {
    const n = this.node(node)
    const env: Envelope = { client, attempt, node, inc: n.up ? n.inc : -1, request }
    this.kvStats.requests++
    this.at(this.now + this.clientDelay(), REQUEST, node, 0, 0, env)
  }

  /** Deliver `answer` to the client of `env` (after the link's delay). */
  protected answer(env: Envelope, answer: Answer, extraDelay = 0): void {
    this.at(this.now + extraDelay + this.clientDelay(), ANSWER, env.node, 0, 0, { env, answer })
  }

  /** A client receives an answer (the workload routes it). */
  protected onAnswer(_env: Envelope, _answer: Answer): void {}

  /** Handle a KV runtime event; false when the kind is not the KV runtime's. */
  protected dispatchKv(ev: SimEvent): boolean {
    switch (ev.kind) {
      case REQUEST:
        this.onRequest(ev.payload as Envelope)
        return true
      case ANSWER: {
        const { env, answer } = ev.payload as { env: Envelope; answer: Answer }
        this.onAnswer(env, answer)
        return true
      }
      case SNAPSHOT_CHUNK:
        this.onSnapshotChunk(ev)
        return true
      case SNAPSHOT_SAVED:
        this.onSnapshotSaved(ev)
        return true
      case READS_DUE:
        this.onReadsDue(ev)
        return true
      default:
        return false
    }
  }

  private onRequest(env: Envelope): void {
    const n = this.node(env.node)
    const srv = this.servers[n.id]
    if (env.inc < 0) return this.answer(env, { _tag: "Unreachable", maybeSent: false })
    if (!n.up || n.inc !== env.inc || srv === undefined) {
      // The connection died with the node: the request may have reached it.
      return this.answer(env, { _tag: "Unreachable", maybeSent: true })
    }
    const req = env.request
    if (req._tag === "Get") {
      if (this.kvOpts.inject.includes("stale-reads")) {
        return this.answer(env, this.readLocal(srv, req.key))
      }
      const id = this.nextReadId++
      srv.reads.set(id, env)
      this.checker.readIssued(id, n.id)
      // A third of reads wait a little for a proposal to ride on; alone they go as a ReadIndex.
      if (this.kvRng.chance(1 / 3)) {
        if (srv.held.length === 0) this.at(this.now + this.kvRng.range(0.05, 1), READS_DUE, n.id, n.inc)
        srv.held.push(id)
        return
      }
      this.deliver(n, { _tag: "ReadIndex", ...this.eventBase(n), ids: [id] })
      return
    }
    if (srv.pendingProposals >= this.settings.maxPendingProposals) {
      this.kvStats.busy++
      return this.answer(env, { _tag: "Busy" })
    }
    const id = this.nextProposalId++
    const data = encodeCommand(this.command(n, req))
    this.proposing.set(id, { node: n.id, env, data })
    srv.pendingProposals++
    this.kvStats.proposals++
    const reads = srv.held
    srv.held = []
    this.deliver(
      n,
      reads.length > 0
        ? { _tag: "Propose", ...this.eventBase(n), id, data: [data], reads }
        : { _tag: "Propose", ...this.eventBase(n), id, data: [data] }
    )
    if (this.proposing.delete(id) && !this.failed) {
      this.checker.fail(KvInvariant.kvContract, `n${n.id}: proposal ${id} neither accepted nor dropped`)
    }
  }

  /** Held reads that no proposal took: they go alone (the node's incarnation must still be up). */
  private onReadsDue(ev: SimEvent): void {
    const n = this.node(ev.node)
    const srv = this.servers[n.id]
    if (!n.up || n.inc !== ev.inc || srv === undefined || srv.held.length === 0) return
    const ids = srv.held
    srv.held = []
    this.deliver(n, { _tag: "ReadIndex", ...this.eventBase(n), ids })
  }

  /** The node's wall clock (ms): the global virtual time plus its incarnation's skew. */
  private wallClock(n: SimNode): number {
    if (this.skew[n.id] === undefined || this.skewInc[n.id] !== n.inc) {
      // Mostly close clocks; now and then one far behind (log time stalls) or ahead (idle
      // sessions expire early).
      const rng = this.kvRng
      this.skew[n.id] = rng.chance(0.1) ? rng.range(-1000, 3000) : rng.range(0, 300)
      this.skewInc[n.id] = n.inc
    }
    return Math.floor(1_000_000 + this.now + this.skew[n.id]!)
  }

  /** The leader stamps every command with its clock (KvHandlers). */
  private command(n: SimNode, req: Exclude<Request, { _tag: "Get" }>): KvCommand {
    const at = this.wallClock(n)
    if (req._tag === "OpenSession") return { _tag: "OpenSession", at }
    const header = {
      at,
      session: req.session,
      seq: req.seq,
      ack: req.ack,
      key: encoder.encode(req.key),
      expectedVersion: req.expectedVersion
    }
    return req._tag === "Put"
      ? { _tag: "Put", ...header, value: encoder.encode(req.value) }
      : { _tag: "Delete", ...header }
  }

  private readLocal(srv: NodeServer, key: string): Answer {
    const r = srv.kv.get(encoder.encode(key))
    return {
      _tag: "Value",
      entry: r === undefined ? undefined : { value: decoder.decode(r.value), version: r.version }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Core bookkeeping: proposals and reads
  // -------------------------------------------------------------------------------------------

  protected override onProposed(n: SimNode, id: number, firstIndex: number, term: number): void {
    const p = this.proposing.get(id)
    const srv = this.servers[n.id]
    if (p === undefined || srv === undefined || p.node !== n.id) {
      this.checker.fail(KvInvariant.kvContract, `n${n.id} reports proposal #${id} accepted, never proposed`)
      return
    }
    this.proposing.delete(id)
    // The runtime keeps one waiter per index: a later proposal at the same index replaces it.
    const orphan = srv.waiters.get(firstIndex)
    if (orphan !== undefined) {
      this.kvStats.orphanedWaiters++
      srv.pendingProposals--
      this.note(
        n.id,
        `kv: proposal at ${firstIndex} in term ${term} replaces the unresolved waiter of term ${orphan.term} (client c${orphan.env.client})`
      )
    }
    srv.waiters.set(firstIndex, { term, env: p.env })
    this.expectProposal(firstIndex, term, [p.data])
  }

  protected override onProposalDropped(id: number, leader: NodeId): void {
    const p = this.proposing.get(id)
    if (p === undefined) {
      this.checker.fail(KvInvariant.kvContract, `proposal #${id} dropped, never proposed`)
      return
    }
    this.proposing.delete(id)
    const srv = this.servers[p.node]
    if (srv !== undefined) srv.pendingProposals--
    // Dropped while this node leads: a leadership transfer is in progress (Busy, as the runtime).
    if (leader === p.node) {
      this.kvStats.busy++
      this.answer(p.env, { _tag: "Busy" })
    } else {
      this.answer(p.env, { _tag: "NotLeader", leaderHint: leader === NONE ? undefined : endpointOf(leader) })
    }
  }

  protected override onReadsAnswered(n: SimNode, c: ReadReady | ReadFailed): void {
    const srv = this.servers[n.id]
    if (srv === undefined) return
    for (const id of c.ids) {
      const env = srv.reads.get(id)
      if (env === undefined) continue
      srv.reads.delete(id)
      if (c._tag === "ReadFailed") {
        const leaderHint = c.leader === NONE ? undefined : endpointOf(c.leader)
        this.answer(env, { _tag: "ReadNotConfirmed", leaderHint })
      } else if (srv.kv.appliedIndex < c.index) {
        this.checker.fail(
          KvInvariant.kvContract,
          `n${n.id} serves a read at index ${c.index} with the KV machine at ${srv.kv.appliedIndex}`
        )
      } else {
        this.answer(env, this.readLocal(srv, (env.request as { key: string }).key))
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The state machine: apply, load, snapshot
  // -------------------------------------------------------------------------------------------

  protected override onApplied(n: SimNode, index: number, entry: Entry): void {
    const srv = this.servers[n.id]
    if (srv === undefined) {
      this.checker.fail(KvInvariant.kvContract, `n${n.id} applies ${index} without a KV machine`)
      return
    }
    let result: ApplyResult
    try {
      result = this.applyEntry(srv.kv, index, entry)
    } catch (e) {
      this.checker.fail(KvInvariant.kvContract, `n${n.id} KV apply of ${index} threw: ${String(e)}`)
      return
    }
    srv.logBytes += Log.entryBytes(entry)
    this.checkDigest(n, srv.kv, "applies")
    const w = srv.waiters.get(index)
    if (w === undefined) return
    srv.waiters.delete(index)
    srv.pendingProposals--
    if (w.term !== entry.term) {
      this.kvStats.leadershipLost++
      return this.answer(w.env, { _tag: "LeadershipLost" })
    }
    const answer = this.outcome(w.env.request, result)
    if (typeof answer === "string")
      this.checker.fail(KvInvariant.kvContract, `n${n.id} at ${index}: ${answer}`)
    else this.answer(w.env, answer)
  }

  /** Apply, or with `lose-write` drop every put at an index divisible by 7 while answering as if
   * it had been written. */
  private applyEntry(kv: KvStateMachine, index: number, entry: Entry): ApplyResult {
    if (this.kvOpts.inject.includes("lose-write") && index % 7 === 0 && entry.kind === "command") {
      const c = decodeCommand(entry.data)
      if (c._tag === "Put") {
        kv.apply(index, { term: entry.term, kind: "noop", data: new Uint8Array(0) })
        return { _tag: "Written", version: (kv.get(c.key)?.version ?? 0) + 1 }
      }
    }
    return kv.apply(index, entry)
  }

  /** The protocol answer to a write from the result of applying it (src/kv/protocol.ts). */
  private outcome(req: Request, r: ApplyResult): Answer | string {
    if (req._tag === "OpenSession") {
      return r._tag === "SessionOpened"
        ? { _tag: "SessionOpened", session: r.session }
        : `OpenSession applied as ${r._tag}`
    }
    if (req._tag === "Get") return "a get was proposed"
    try {
      const o = req._tag === "Put" ? putOutcome(r) : deleteOutcome(r)
      if (o._tag === "Success") {
        const v = o.success
        return "version" in v
          ? { _tag: "Written", version: v.version }
          : { _tag: "Deleted", deleted: v.deleted }
      }
      const e = o.failure
      switch (e._tag) {
        case "VersionMismatch":
          return { _tag: "VersionMismatch", currentVersion: e.currentVersion }
        case "SessionExpired":
          return { _tag: "SessionExpired" }
        case "StaleSequence":
          return { _tag: "StaleSequence" }
        default:
          return `${req._tag} answered ${e._tag}`
      }
    } catch (e) {
      return String(e)
    }
  }

  /** Digest of a KV state: applied index, session count, log time, every key's value and version. */
  private digest(kv: KvStateMachine): number {
    let h = mixNumber(mix(mix(0x6b76, kv.appliedIndex), kv.sessionCount), kv.logTime)
    for (const key of this.keyBytes) {
      const r = kv.get(key)
      h = r === undefined ? mix(h, 0) : mixBytes(mix(h, r.version), r.value)
    }
    return finish(h)
  }

  /** KV digest at the machine's applied index: the same on every replica, and in its snapshots. */
  private checkDigest(n: SimNode, kv: KvStateMachine, what: string): void {
    const d = this.digest(kv)
    const index = kv.appliedIndex
    const known = this.digests[index]
    if (known === undefined) this.digests[index] = d
    else if (known !== d) {
      this.checker.fail(
        KvInvariant.kvSafety,
        `n${n.id} ${what} index ${index} and its KV state differs from the other replicas' there`
      )
    }
  }

  protected override parseMachineSnapshot(data: Uint8Array): MachineState | string {
    return parseSnapshot(data.subarray(0, SNAPSHOT_HEADER_BYTES))
  }

  protected override onMachineLoaded(n: SimNode, data: Uint8Array | undefined): void {
    let srv = this.servers[n.id]
    if (srv === undefined) {
      srv = new NodeServer(new KvStateMachine(this.settings.kv))
      this.servers[n.id] = srv
    } else this.abandonSnapshot(srv)
    if (data === undefined) return
    const error = this.restoreInto(srv.kv, data)
    if (error !== undefined) {
      this.checker.fail(KvInvariant.kvContract, `n${n.id} cannot restore its KV snapshot: ${error}`)
      return
    }
    this.kvStats.kvRestores++
    const kv = srv.kv
    if (kv.appliedIndex !== n.machine.applied || kv.appliedTerm !== n.machine.term) {
      this.checker.fail(
        KvInvariant.kvSafety,
        `n${n.id} restored a KV snapshot at ${kv.appliedIndex}/${kv.appliedTerm} inside a snapshot of ${n.machine.applied}/${n.machine.term}`
      )
      return
    }
    this.checkDigest(n, kv, "restores a snapshot at")
    srv.logBytes = 0
    // Proposals the snapshot covers may or may not be in it (the runtime's OutcomeUnknown).
    for (const [index, w] of srv.waiters) {
      if (index > kv.appliedIndex) continue
      srv.waiters.delete(index)
      srv.pendingProposals--
      this.kvStats.leadershipLost++
      this.answer(w.env, { _tag: "LeadershipLost" })
    }
  }

  /** Stream the KV part of snapshot `data` into `kv` in random-sized pieces (records span them). */
  private restoreInto(kv: KvStateMachine, data: Uint8Array): string | undefined {
    const restorer = kv.beginRestore()
    let error: string | undefined
    for (let at = SNAPSHOT_HEADER_BYTES; at < data.length && error === undefined; ) {
      const end = Math.min(data.length, at + this.kvRng.int(1, 400))
      error = restorer.push(data.slice(at, end))?.reason
      at = end
    }
    return error ?? restorer.finish()?.reason
  }

  protected override afterNodeStep(n: SimNode): void {
    super.afterNodeStep(n)
    if (!this.failed) this.maybeSnapshot(n)
  }

  /** Start a snapshot when the log applied since the last one outgrew the threshold. */
  private maybeSnapshot(n: SimNode): void {
    const srv = this.servers[n.id]
    if (!n.up || srv === undefined || srv.snapshot !== undefined) return
    if (srv.logBytes < this.settings.snapshotThresholdBytes) return
    const kv = srv.kv
    const index = kv.appliedIndex
    if (index <= (n.disk.snapshot?.meta.index ?? 0)) return
    if (n.machine.applied !== index || n.machine.term !== kv.appliedTerm) {
      this.checker.fail(
        KvInvariant.kvContract,
        `n${n.id}: KV machine at ${index}/${kv.appliedTerm}, hash machine at ${n.machine.applied}/${n.machine.term}`
      )
      return
    }
    const gen = ++this.snapshotGen
    srv.snapshot = {
      gen,
      index,
      term: kv.appliedTerm,
      stream: kv.snapshot({ chunkBytes: this.settings.snapshotChunkBytes }),
      parts: [serializeSnapshot(n.machine, SNAPSHOT_HEADER_BYTES)]
    }
    this.at(this.now + this.kvRng.range(0.02, 1.5), SNAPSHOT_CHUNK, n.id, n.inc, 0, gen)
  }

  private abandonSnapshot(srv: NodeServer): void {
    srv.snapshot?.stream.close()
    srv.snapshot = undefined
  }

  /** The snapshot writer pulls the next chunk (entries are applied in between). */
  private onSnapshotChunk(ev: SimEvent): void {
    const n = this.node(ev.node)
    const snap = this.servers[n.id]?.snapshot
    if (!n.up || ev.inc !== n.inc || snap === undefined || snap.gen !== ev.payload) return
    const next = snap.stream.next()
    if (next.done !== true) {
      snap.parts.push(next.value)
      this.at(this.now + this.kvRng.range(0.02, 1.5), SNAPSHOT_CHUNK, n.id, n.inc, 0, snap.gen)
      return
    }
    const size = snap.parts.reduce((s, p) => s + p.length, 0)
    const data = new Uint8Array(size)
    let at = 0
    for (const p of snap.parts) {
      data.set(p, at)
      at += p.length
    }
    // The stream must hold the state as of its start, whatever was applied since.
    if (this.servers[n.id]!.kv.appliedIndex > snap.index) this.kvStats.kvSnapshotsUnderApply++
    const scratch = new KvStateMachine(this.settings.kv)
    const error = this.restoreInto(scratch, data)
    if (
      error !== undefined ||
      scratch.appliedIndex !== snap.index ||
      this.digest(scratch) !== this.digests[snap.index]
    ) {
      this.checker.fail(
        KvInvariant.kvSafety,
        `n${n.id} wrote a KV snapshot at ${snap.index} that does not hold the state applied there${error === undefined ? ` (it restores to index ${scratch.appliedIndex})` : `: ${error}`}`
      )
      return
    }
    this.at(this.now + this.diskDelay(), SNAPSHOT_SAVED, n.id, n.inc, 0, { gen: snap.gen, data })
  }

  /** The snapshot is durable: report it to the core. */
  private onSnapshotSaved(ev: SimEvent): void {
    const n = this.node(ev.node)
    const srv = this.servers[n.id]
    const { gen, data } = ev.payload as { gen: number; data: Uint8Array }
    const snap = srv?.snapshot
    if (!n.up || ev.inc !== n.inc || srv === undefined || snap === undefined || snap.gen !== gen) return
    srv.snapshot = undefined
    if (snap.index <= (n.disk.snapshot?.meta.index ?? 0)) return
    const meta = { index: snap.index, term: snap.term, size: data.length }
    n.disk.saveLocalSnapshot({ meta, data })
    srv.logBytes = 0
    this.stats.snapshots++
    this.kvStats.kvSnapshots++
    this.deliver(n, { _tag: "SnapshotTaken", ...this.eventBase(n), index: meta.index, size: meta.size })
  }

  // -------------------------------------------------------------------------------------------
  // Crashes
  // -------------------------------------------------------------------------------------------

  /** A crash also drops the node's client connections: what waited there fails, maybe sent. */
  override crash(n: SimNode): void {
    const srv = this.servers[n.id]
    if (srv !== undefined) {
      this.abandonSnapshot(srv)
      const lost: Answer = { _tag: "Unreachable", maybeSent: true }
      for (const w of srv.waiters.values()) this.answer(w.env, lost, this.kvRng.range(0, 20))
      for (const env of srv.reads.values()) this.answer(env, lost, this.kvRng.range(0, 20))
    }
    this.servers[n.id] = undefined
    super.crash(n)
  }

  /** The KV state machine of a running node. */
  protected kvOf(id: NodeId): KvStateMachine | undefined {
    return this.servers[id]?.kv
  }

  /** The key's value and version on a node, as a string for comparisons. */
  protected describeKey(kv: KvStateMachine, k: number): string {
    const r = kv.get(this.keyBytes[k]!)
    return r === undefined ? "absent" : `${decoder.decode(r.value)} v${r.version}`
  }

  /** Fail the run with a KV-level violation. */
  protected failKv(invariant: string, detail: string): void {
    this.checker.fail(invariant, detail)
  }
}
