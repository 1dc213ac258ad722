/**
 * Turns the runtime's reports (MetricsSink calls) into metric updates on a `Recorder`. Shared by
 * the Prometheus and memory layers, so what tests observe is what Prometheus scrapes.
 *
 * Derived figures:
 * - commit latency: a leader's proposal batch (`proposed`) is timed until `committed` passes it;
 *   one observation per proposal. Cleared when leadership is lost (the outcome is then unknown).
 * - apply latency: every commit advance is timed until `applied` covers it; one per entry.
 * - election duration: from this node first campaigning (pre-vote or vote) until it knows a leader.
 * - RPC round trips: requests sent to a peer wait in a per-peer FIFO until the response that
 *   answers them is handled (AppendEntries by acknowledged index, votes by kind, snapshot chunks by
 *   offset, ReadIndex by read id). Requests unanswered for {@link LOST_AFTER_SECONDS}, or pushed
 *   out of a full FIFO, are observed with outcome `lost`.
 * - AppendEntries handler: a follower times each AppendEntries until its response leaves (one
 *   response per request, in order), which includes the fsync the acknowledgement waits for.
 */
import type { RaftState } from "../core/state.ts"
import { type Message, NONE, type NodeId, type Role } from "../core/types.ts"
import { kvMetrics, raftMetrics as R } from "./catalog.ts"
import type { MetricsSinkShape } from "./MetricsSink.ts"
import type { CounterHandle, GaugeHandle, HistogramHandle, Recorder } from "./recorder.ts"
import { Ring } from "./ring.ts"

/** Requests unanswered for this long are given up as lost. */
export const LOST_AFTER_SECONDS = 10

const METHODS = [
  "append_entries",
  "heartbeat",
  "request_vote",
  "pre_vote",
  "install_snapshot",
  "read_index"
] as const
const OUTCOMES = ["ok", "rejected", "granted", "denied", "failed", "lost"] as const
const APPEND = 0
const HEARTBEAT = 1
const VOTE = 2
const PRE_VOTE = 3
const SNAPSHOT = 4
const READ = 5
const OK = 0
const REJECTED = 1
const GRANTED = 2
const DENIED = 3
const FAILED = 4
const LOST = 5

/** What this node tracks about one peer. */
interface Peer {
  readonly label: string
  /** Leader: AppendEntries in flight (end index, sent at, 1 if heartbeat). */
  readonly appends: Ring
  /** Leader: snapshot chunks in flight (snapshot index, end offset, sent at). */
  readonly chunks: Ring
  /** Follower: ReadIndex requests in flight (first read id, sent at). */
  readonly reads: Ring
  /** Follower: AppendEntries being handled (received at). */
  readonly handling: Ring
  /** Candidate: the vote request in flight. */
  vote: { pending: boolean; preVote: boolean; at: number }
  /** Round-trip histograms by method * OUTCOMES.length + outcome, resolved on first use. */
  readonly rpc: Array<HistogramHandle | undefined>
  lag: GaugeHandle | undefined
}

export const deriveMetrics = (rec: Recorder, now: () => number): MetricsSinkShape => {
  const term = rec.gauge(R.term)
  const roles: Record<Role, GaugeHandle> = {
    follower: rec.gauge(R.role, { role: "follower" }),
    precandidate: rec.gauge(R.role, { role: "precandidate" }),
    candidate: rec.gauge(R.role, { role: "candidate" }),
    leader: rec.gauge(R.role, { role: "leader" })
  }
  const leaderChanges = rec.counter(R.leaderChanges)
  const electionsStarted = rec.counter(R.electionsStarted)
  const electionDuration = rec.histogram(R.electionDuration)
  const commitIndex = rec.gauge(R.commitIndex)
  const appliedIndex = rec.gauge(R.appliedIndex)
  const commitLatency = rec.histogram(R.commitLatency)
  const applyLatency = rec.histogram(R.applyLatency)
  const persistDuration = rec.histogram(R.persistDuration)
  const persistBatchEntries = rec.histogram(R.persistBatchEntries)
  const writes = {
    batch: rec.counter(R.diskWrites, { kind: "batch" }),
    logAppend: rec.counter(R.diskWrites, { kind: "log_append" }),
    hardState: rec.counter(R.diskWrites, { kind: "hard_state" }),
    snapshotChunk: rec.counter(R.diskWrites, { kind: "snapshot_chunk" }),
    snapshot: rec.counter(R.diskWrites, { kind: "snapshot" })
  }
  const appendHandler = rec.histogram(R.appendHandlerDuration)
  const logEntries = rec.gauge(R.logEntries)
  const logBytes = rec.gauge(R.logBytes)
  const snapshotIndex = rec.gauge(R.snapshotIndex)
  const snapshotBytes = rec.gauge(R.snapshotBytes)
  const snapshotDuration = {
    create: rec.histogram(R.snapshotDuration, { kind: "create" }),
    install: rec.histogram(R.snapshotDuration, { kind: "install" }),
    restore: rec.histogram(R.snapshotDuration, { kind: "restore" })
  }
  const queueDepth = rec.gauge(R.eventQueueDepth)
  const loopBatch = rec.histogram(R.loopBatchEvents)
  const kvSnapshots = rec.counter(kvMetrics.snapshots)
  const kvKeys = rec.gauge(kvMetrics.keys)
  const kvSessions = rec.gauge(kvMetrics.sessions)
  const kvPending = rec.gauge(kvMetrics.pendingProposals)
  const kvRequests = new Map<string, Map<string, CounterHandle>>()
  const kvDurations = new Map<string, HistogramHandle>()

  roles.follower.set(1)

  // --- role and elections
  let role: Role = "follower"
  let knownLeader: NodeId = NONE
  let knownTerm = 0
  let campaigning = false
  let campaignStart = 0

  // --- latencies: pending proposal batches (first index, last index, appended at) and commit
  // advances waiting to be applied (commit index, committed at)
  const proposals = new Ring(4096, 3)
  const commits = new Ring(4096, 2)
  let installing = false
  let installStart = 0

  const peers = new Map<NodeId, Peer>()
  const peer = (id: NodeId): Peer => {
    let p = peers.get(id)
    if (p === undefined) {
      p = {
        label: String(id),
        appends: new Ring(1024, 3),
        chunks: new Ring(256, 3),
        reads: new Ring(1024, 2),
        handling: new Ring(1024, 1),
        vote: { pending: false, preVote: false, at: 0 },
        rpc: [],
        lag: undefined
      }
      peers.set(id, p)
    }
    return p
  }

  const rpc = (p: Peer, method: number, outcome: number, seconds: number): void => {
    const k = method * OUTCOMES.length + outcome
    let h = p.rpc[k]
    if (h === undefined) {
      h = rec.histogram(R.rpcDuration, {
        method: METHODS[method]!,
        peer: p.label,
        outcome: OUTCOMES[outcome]!
      })
      p.rpc[k] = h
    }
    h.observe(seconds)
  }

  /** Give up on the oldest AppendEntries of `p` while they are too old (or the FIFO is full). */
  const expireAppends = (p: Peer, t: number): void => {
    const r = p.appends
    while (r.size > 0 && (r.size === r.capacity || t - r.first(1) > LOST_AFTER_SECONDS)) {
      rpc(p, r.first(2) === 1 ? HEARTBEAT : APPEND, LOST, t - r.first(1))
      r.shift()
    }
  }

  const stepDown = (): void => {
    proposals.clear()
    for (const [id, p] of peers) {
      p.appends.clear()
      p.chunks.clear()
      if (p.lag !== undefined) {
        rec.remove(R.replicationLag, { peer: String(id) })
        p.lag = undefined
      }
    }
  }

  let lagLast = 0
  const lagEach = (pr: { readonly match: number }, id: NodeId): void => {
    const p = peer(id)
    if (p.lag === undefined) p.lag = rec.gauge(R.replicationLag, { peer: p.label })
    p.lag.set(Math.max(0, lagLast - pr.match))
  }

  const onResponse = (p: Peer, m: Message, t: number): void => {
    switch (m._tag) {
      case "AppendEntriesResponse": {
        const r = p.appends
        if (m.success) {
          while (r.size > 0 && r.first(0) <= m.index) {
            rpc(p, r.first(2) === 1 ? HEARTBEAT : APPEND, OK, t - r.first(1))
            r.shift()
          }
        } else if (r.size > 0) {
          rpc(p, r.first(2) === 1 ? HEARTBEAT : APPEND, REJECTED, t - r.first(1))
          r.shift()
        }
        return
      }
      case "RequestVoteResponse":
        if (p.vote.pending && p.vote.preVote === m.preVote) {
          rpc(p, m.preVote ? PRE_VOTE : VOTE, m.granted ? GRANTED : DENIED, t - p.vote.at)
          p.vote.pending = false
        }
        return
      case "InstallSnapshotResponse": {
        const r = p.chunks
        while (r.size > 0) {
          if (r.first(0) !== m.snapshotIndex) rpc(p, SNAPSHOT, LOST, t - r.first(2))
          else if (r.first(1) <= m.nextOffset) rpc(p, SNAPSHOT, OK, t - r.first(2))
          else break
          r.shift()
        }
        return
      }
      case "ReadIndexResponse": {
        const r = p.reads
        const id = m.ids[0] ?? -1
        while (r.size > 0) {
          const mine = r.first(0) === id
          rpc(p, READ, mine ? (m.index > 0 ? OK : FAILED) : LOST, t - r.first(1))
          r.shift()
          if (mine) break
        }
        return
      }
      default:
        return
    }
  }

  return {
    roleChanged: (newRole, newTerm, leader) => {
      term.set(newTerm)
      if (newRole !== role) {
        roles[role].set(0)
        roles[newRole].set(1)
      }
      if (newRole === "candidate") electionsStarted.inc(1)
      if ((newRole === "precandidate" || newRole === "candidate") && !campaigning) {
        campaigning = true
        campaignStart = now()
      }
      if (leader !== NONE) {
        if (campaigning) {
          electionDuration.observe(now() - campaignStart)
          campaigning = false
        }
        if (leader !== knownLeader || newTerm !== knownTerm) {
          leaderChanges.inc(1)
          knownLeader = leader
          knownTerm = newTerm
        }
      }
      if (role === "leader" && newRole !== "leader") stepDown()
      role = newRole
    },

    proposed: (firstIndex, count) => {
      if (count <= 0) return
      proposals.push(firstIndex, firstIndex + count - 1, now())
    },

    committed: (index) => {
      const t = now()
      while (proposals.size > 0) {
        const first = proposals.first(0)
        if (first > index) break
        const last = proposals.first(1)
        commitLatency.observeMany(t - proposals.first(2), Math.min(last, index) - first + 1)
        if (last <= index) proposals.shift()
        else {
          proposals.setFirst(0, index + 1)
          break
        }
      }
      commits.push(index, t)
    },

    sent: (to, m) => {
      switch (m._tag) {
        case "AppendEntries": {
          const p = peer(to)
          const t = now()
          expireAppends(p, t)
          p.appends.push(m.prevLogIndex + m.entries.length, t, m.entries.length === 0 ? 1 : 0)
          return
        }
        case "RequestVote": {
          const p = peer(to)
          const t = now()
          if (p.vote.pending) rpc(p, p.vote.preVote ? PRE_VOTE : VOTE, LOST, t - p.vote.at)
          p.vote.pending = true
          p.vote.preVote = m.preVote
          p.vote.at = t
          return
        }
        case "InstallSnapshot": {
          const p = peer(to)
          const t = now()
          if (p.chunks.size === p.chunks.capacity) {
            rpc(p, SNAPSHOT, LOST, t - p.chunks.first(2))
          }
          p.chunks.push(m.snapshot.index, m.offset + m.data.length, t)
          return
        }
        case "ReadIndexRequest": {
          const p = peer(to)
          const t = now()
          if (p.reads.size === p.reads.capacity) rpc(p, READ, LOST, t - p.reads.first(1))
          p.reads.push(m.ids[0] ?? -1, t)
          return
        }
        case "AppendEntriesResponse": {
          const h = peer(to).handling
          if (h.size > 0) {
            appendHandler.observe(now() - h.first(0))
            h.shift()
          }
          return
        }
        default:
          return
      }
    },

    received: (from, m) => {
      switch (m._tag) {
        case "AppendEntries":
          peer(from).handling.push(now())
          return
        case "InstallSnapshot":
          if (m.offset === 0) {
            installing = true
            installStart = now()
          }
          return
        case "AppendEntriesResponse":
        case "RequestVoteResponse":
        case "InstallSnapshotResponse":
        case "ReadIndexResponse":
          onResponse(peer(from), m, now())
          return
        default:
          return
      }
    },

    persisted: (batch, seconds) => {
      persistDuration.observe(seconds)
      writes.batch.inc(1)
      let entries = 0
      for (let k = 0; k < batch.length; k++) {
        const w = batch[k]!
        if (w._tag === "Persist") {
          if (w.log !== undefined) {
            entries += w.log.entries.length
            writes.logAppend.inc(1)
          }
          if (w.hardState !== undefined) writes.hardState.inc(1)
        } else {
          writes.snapshotChunk.inc(1)
          if (w.done && installing) {
            snapshotDuration.install.observe(now() - installStart)
            installing = false
          }
        }
      }
      persistBatchEntries.observe(entries)
    },

    applied: (lastIndex, count) => {
      appliedIndex.set(lastIndex)
      let from = lastIndex - count + 1
      const t = now()
      while (commits.size > 0 && from <= lastIndex) {
        const upTo = commits.first(0)
        if (upTo >= from) {
          const end = Math.min(upTo, lastIndex)
          applyLatency.observeMany(t - commits.first(1), end - from + 1)
          from = end + 1
        }
        if (upTo <= lastIndex) commits.shift()
      }
    },

    snapshotCreated: (_meta, seconds) => {
      snapshotDuration.create.observe(seconds)
      writes.snapshot.inc(1)
      kvSnapshots.inc(1)
    },

    snapshotRestored: (meta, seconds) => {
      snapshotDuration.restore.observe(seconds)
      // Entries the snapshot covers are not applied one by one: no apply latency for them.
      while (commits.size > 0 && commits.first(0) <= meta.index) commits.shift()
    },

    turn: (batch, queued, s: RaftState, bytes) => {
      term.set(s.term)
      commitIndex.set(s.commitIndex)
      appliedIndex.set(s.appliedIndex)
      logEntries.set(s.log.length)
      logBytes.set(bytes)
      snapshotIndex.set(s.snapshot?.index ?? 0)
      snapshotBytes.set(s.snapshot?.size ?? 0)
      queueDepth.set(queued)
      if (batch > 0) loopBatch.observe(batch)
      if (s.role === "leader") {
        lagLast = s.log.prevIndex + s.log.length
        s.progress.forEach(lagEach)
      }
    },

    kvRequest: (method, outcome, seconds) => {
      let byOutcome = kvRequests.get(method)
      if (byOutcome === undefined) {
        byOutcome = new Map()
        kvRequests.set(method, byOutcome)
      }
      let c = byOutcome.get(outcome)
      if (c === undefined) {
        c = rec.counter(kvMetrics.requests, { method, outcome })
        byOutcome.set(outcome, c)
      }
      c.inc(1)
      let h = kvDurations.get(method)
      if (h === undefined) {
        h = rec.histogram(kvMetrics.requestDuration, { method })
        kvDurations.set(method, h)
      }
      h.observe(seconds)
    },

    kvGauges: (keys, sessions, pending) => {
      kvKeys.set(keys)
      kvSessions.set(sessions)
      kvPending.set(pending)
    },

    kvSizes: (source) => {
      kvKeys.follow(source.keys)
      kvSessions.follow(source.sessions)
      kvPending.follow(source.pendingProposals)
    }
  }
}
