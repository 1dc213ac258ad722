import {
  type Entry,
  Log,
  type Message,
  NONE,
  type NodeId,
  type RaftLog,
  type Role
} from "../../src/core/index.ts"
import type { Disk } from "./disk.ts"
import { sameBytes } from "./hash.ts"

/** The parts of a node's state the invariants look at (a `RaftState` fits). */
export interface NodeView {
  readonly role: Role
  readonly term: number
  readonly vote: NodeId
  readonly log: RaftLog
  readonly commitIndex: number
  readonly appliedIndex: number
}

/** A broken invariant: which one, and what exactly was seen. */
export interface Violation {
  readonly invariant: string
  readonly detail: string
}

/** Names of the invariants, as reported. */
export const Invariant = {
  electionSafety: "Election Safety",
  logMatching: "Log Matching",
  leaderCompleteness: "Leader Completeness",
  stateMachineSafety: "State Machine Safety",
  commitMonotonic: "Commit index monotonic",
  leaderCommitRule: "Leader commits by counting only entries of its term",
  durability: "Durability",
  linearizableRead: "Linearizable read",
  liveness: "Liveness",
  runtimeContract: "Runtime contract",
  corePanic: "Core threw"
} as const

/**
 * Does sending `m` commit the sender to its term, so that forgetting the term in a crash could
 * break a promise? A candidate's RequestVote (its own vote), a granted vote, a leader's messages,
 * and acknowledgements of entries or snapshot bytes do. A PreVote (nobody adopts its term), a
 * refused vote, a rejected append, a forwarded read or a failed read index only tell the receiver that a newer term
 * exists, which stays true whatever the sender remembers; the paper's "persist before responding"
 * is not needed for those, so the core may send them before the new term is durable.
 */
export const bindsTerm = (m: Message): boolean => {
  switch (m._tag) {
    case "RequestVote":
      return !m.preVote
    case "RequestVoteResponse":
      return m.granted && !m.preVote
    case "AppendEntriesResponse":
      return m.success
    case "ReadIndexRequest":
      return false
    case "ReadIndexResponse":
      return m.index !== NONE
    default:
      return true
  }
}

/** Keys of the (index, term) table: exact while terms stay below 2^21 and indices below 2^32. */
const TERM_SPACE = 2097152

interface NodeRecord {
  /** The log as last checked (this incarnation), for incremental Log Matching. */
  log: RaftLog | undefined
  commit: number
  role: Role
  term: number
  /** Highest term this node put on the wire in a message that others may rely on (see
   * `bindsTerm`). */
  maxSentTerm: number
  /** Votes this node sent, by term (over all incarnations). */
  votes: Map<number, NodeId>
}

interface ReadRecord {
  readonly node: NodeId
  /** The highest index known committed anywhere when the read was issued. */
  readonly minIndex: number
  done: boolean
}

/**
 * Raft's safety properties (paper Figure 3) plus the simulator's own contracts, checked
 * incrementally after every step so a whole run stays cheap:
 * - Election Safety: at most one leader per term, over all time; no node votes twice in a term.
 * - Log Matching: a global table of every entry ever held, by (index, term), with the term of the
 *   entry before it; two holders must agree on content and on the predecessor, which by induction
 *   makes the prefixes identical.
 * - Leader Completeness: every entry known committed by term T is held by every leader of a term
 *   after T (checked when a leader appears, and for current leaders when a commit becomes known).
 * - State Machine Safety: one entry committed per index, and every node that applies an index has
 *   the same running hash of the whole applied prefix there.
 * - Commit index never decreases within one incarnation; applied <= commit; a leader moves its
 *   commit index only onto an entry of its own term (paper Figure 2 and 5.4.2: earlier entries are
 *   committed only indirectly, the Figure 8 hazard).
 * - Durability: a vote / append acknowledgement / snapshot acknowledgement leaves only when the
 *   disk holds what it reports; a restarted node never has an older term than it bound itself to
 *   in a message (`bindsTerm`), nor another vote than it sent.
 * - Reads: served at an index >= every commit known when issued, once applied through it.
 *
 * The first violation is kept in `violation`; the simulator stops the run there.
 */
export class Checker {
  violation: Violation | undefined = undefined
  /** The leader of each term, over all time. */
  readonly leaders = new Map<number, NodeId>()
  /** Term of the entry committed at each index, as learned from any node's commit index. */
  readonly committedTerm: number[] = []
  /**
   * A term by which each index was committed: the lowest current term of a node that knew it
   * committed (a node learns commits from the leader of its own term, or is that leader). An
   * entry may be committed in a later term than its own (5.4.2): Leader Completeness binds only
   * the leaders of terms after the one that committed it.
   */
  readonly commitTerm: number[] = []
  /** Highest index known committed anywhere. */
  committedMax = 0
  /** Running state machine hash after applying each index (first node to apply it). */
  readonly appliedHash: number[] = []
  readonly appliedTerm: number[] = []
  private readonly entries = new Map<number, { readonly entry: Entry; readonly prevTerm: number }>()
  private readonly nodes = new Map<NodeId, NodeRecord>()
  /** Latest state of every running node. */
  private readonly live = new Map<NodeId, NodeView>()
  private readonly reads = new Map<number, ReadRecord>()

  fail(invariant: string, detail: string): void {
    if (this.violation === undefined) this.violation = { invariant, detail }
  }

  private record(id: NodeId): NodeRecord {
    let r = this.nodes.get(id)
    if (r === undefined) {
      r = { log: undefined, commit: 0, role: "follower", term: 0, maxSentTerm: 0, votes: new Map() }
      this.nodes.set(id, r)
    }
    return r
  }

  /** A node started (or restarted) from its durable state: it must not have forgotten a term or a
   * vote it sent before; then its whole restored log is checked. */
  started(id: NodeId, s: NodeView): void {
    const r = this.record(id)
    if (s.term < r.maxSentTerm) {
      this.fail(
        Invariant.durability,
        `n${id} restarted in term ${s.term} but had sent a vote, leader message or acknowledgement of term ${r.maxSentTerm}`
      )
    }
    const voted = r.votes.get(s.term)
    if (voted !== undefined && s.vote !== voted) {
      this.fail(
        Invariant.durability,
        `n${id} restarted in term ${s.term} with vote ${s.vote} but had voted for n${voted}`
      )
    }
    r.log = undefined
    r.commit = s.commitIndex
    r.role = "follower"
    r.term = s.term
    this.afterStep(id, s)
  }

  crashed(id: NodeId): void {
    this.live.delete(id)
  }

  /** After every step of node `id`. */
  afterStep(id: NodeId, s: NodeView): void {
    const r = this.record(id)
    this.live.set(id, s)
    if (s.role === "leader") this.checkLeader(id, s, r.role !== "leader" || r.term !== s.term)
    if (r.log !== s.log) this.checkLog(id, r.log, s)
    if (s.commitIndex < r.commit) {
      this.fail(
        Invariant.commitMonotonic,
        `n${id} commit index went from ${r.commit} back to ${s.commitIndex}`
      )
    } else if (s.commitIndex > r.commit) {
      if (s.role === "leader" && r.role === "leader" && r.term === s.term) {
        const t = Log.termAt(s.log, s.commitIndex)
        if (t !== s.term) {
          this.fail(
            Invariant.leaderCommitRule,
            `n${id}, leader of term ${s.term}, advanced its commit index to ${s.commitIndex}, an entry of term ${t}`
          )
        }
      }
      this.checkCommits(id, s, r.commit)
    }
    if (s.appliedIndex > s.commitIndex) {
      this.fail(
        Invariant.stateMachineSafety,
        `n${id} applied ${s.appliedIndex} beyond its commit index ${s.commitIndex}`
      )
    }
    r.log = s.log
    r.commit = s.commitIndex
    r.role = s.role
    r.term = s.term
  }

  private checkLeader(id: NodeId, s: NodeView, isNew: boolean): void {
    const known = this.leaders.get(s.term)
    if (known === undefined) this.leaders.set(s.term, id)
    else if (known !== id) {
      this.fail(Invariant.electionSafety, `n${id} and n${known} are both leaders of term ${s.term}`)
      return
    }
    if (!isNew) return
    const log = s.log
    const last = Log.lastIndex(log)
    for (let i = Math.max(log.prevIndex, 1); i <= this.committedMax; i++) {
      const c = this.commitTerm[i]
      if (c === undefined || c >= s.term) continue
      const t = this.committedTerm[i]!
      const held = Log.termAt(log, i)
      if (held !== t) {
        this.fail(
          Invariant.leaderCompleteness,
          `n${id} became leader of term ${s.term} holding ${i > last ? "nothing" : `term ${held}`} at index ${i}, where an entry of term ${t} was committed by term ${c}`
        )
        return
      }
    }
  }

  private checkLog(id: NodeId, old: RaftLog | undefined, s: NodeView): void {
    const cur = s.log
    const last = Log.lastIndex(cur)
    let from = cur.prevIndex + 1
    if (old !== undefined) {
      // What this node held before is already checked: find where its log starts to differ
      // (appends and truncations touch only the tail). A node never replaces an entry with one of
      // the same term (it truncates only on a term conflict, paper 5.3), so terms tell.
      const lo = Math.max(old.prevIndex, cur.prevIndex)
      let i = Math.min(Log.lastIndex(old), last)
      while (i > lo && Log.termAt(old, i) !== Log.termAt(cur, i)) i--
      from = Math.max(from, i + 1)
    }
    let prevTerm = Log.termAt(cur, from - 1)!
    for (let i = from; i <= last; i++) {
      const e = Log.entryAt(cur, i)!
      if (e.term < prevTerm || e.term > s.term) {
        this.fail(
          Invariant.logMatching,
          `n${id} (term ${s.term}) holds term ${e.term} at ${i} after term ${prevTerm}`
        )
        return
      }
      const key = i * TERM_SPACE + e.term
      const seen = this.entries.get(key)
      if (seen === undefined) {
        this.entries.set(key, { entry: e, prevTerm })
      } else if (seen.entry !== e && (seen.entry.kind !== e.kind || !sameBytes(seen.entry.data, e.data))) {
        this.fail(
          Invariant.logMatching,
          `n${id} holds a different entry at index ${i} term ${e.term} than another log`
        )
        return
      } else if (seen.prevTerm !== prevTerm) {
        this.fail(
          Invariant.logMatching,
          `n${id} holds index ${i} term ${e.term} after term ${prevTerm}; another log has it after term ${seen.prevTerm}`
        )
        return
      }
      prevTerm = e.term
    }
  }

  private checkCommits(id: NodeId, s: NodeView, from: number): void {
    const log = s.log
    const last = Log.lastIndex(log)
    if (s.commitIndex > last) {
      this.fail(
        Invariant.stateMachineSafety,
        `n${id} commit index ${s.commitIndex} beyond its last index ${last}`
      )
      return
    }
    for (let i = Math.max(from + 1, log.prevIndex); i <= s.commitIndex; i++) {
      const t = Log.termAt(log, i)
      if (t === undefined) continue
      const known = this.committedTerm[i]
      if (known === undefined) {
        this.committedTerm[i] = t
        this.commitTerm[i] = s.term
        this.newlyCommitted(i, t, s.term)
      } else if (known === t) {
        if (s.term < this.commitTerm[i]!) {
          this.commitTerm[i] = s.term
          this.newlyCommitted(i, t, s.term)
        }
      } else {
        this.fail(
          Invariant.stateMachineSafety,
          `n${id} committed term ${t} at index ${i}, where term ${known} was committed`
        )
        return
      }
    }
    if (s.commitIndex > this.committedMax) this.committedMax = s.commitIndex
  }

  /** Entry (`index`, `term`) is known committed by term `by`: every current leader of a later
   * term must already hold it. */
  private newlyCommitted(index: number, term: number, by: number): void {
    for (const [id, s] of this.live) {
      if (s.role !== "leader" || s.term <= by || index < s.log.prevIndex) continue
      if (Log.termAt(s.log, index) !== term) {
        this.fail(
          Invariant.leaderCompleteness,
          `index ${index} term ${term} was committed by term ${by} but n${id}, leader of term ${s.term}, holds ${Log.termAt(s.log, index) ?? "nothing"} there`
        )
      }
    }
  }

  /** Node `id` applied `entry` at `index`; `hash` is its running hash after it. (That the index
   * was committed on that node is checked when the Apply is emitted.) */
  applied(id: NodeId, index: number, entry: Entry, hash: number): void {
    const committed = this.committedTerm[index]
    if (committed !== undefined && committed !== entry.term) {
      this.fail(
        Invariant.stateMachineSafety,
        `n${id} applied term ${entry.term} at ${index}; term ${committed} is committed there`
      )
      return
    }
    const known = this.appliedHash[index]
    if (known === undefined) {
      this.appliedHash[index] = hash
      this.appliedTerm[index] = entry.term
    } else if (known !== hash) {
      this.fail(
        Invariant.stateMachineSafety,
        `n${id} applied term ${entry.term} at ${index} reaching a different state than another node (term ${this.appliedTerm[index]})`
      )
    }
  }

  /** Node `id` restored its state machine from a snapshot at `index` whose state hash is `hash`. */
  restored(id: NodeId, index: number, hash: number): void {
    if (index === 0) return
    const known = this.appliedHash[index]
    if (known !== hash) {
      this.fail(
        Invariant.stateMachineSafety,
        known === undefined
          ? `n${id} restored a snapshot at ${index}, an index no state machine ever applied`
          : `n${id} restored a snapshot at ${index} whose state differs from what was applied there`
      )
    }
  }

  /** A message of node `id` is leaving for the network now; `disk` is its durable state. */
  sent(id: NodeId, to: NodeId, m: Message, disk: Disk): void {
    const r = this.record(id)
    if (bindsTerm(m) && m.term > r.maxSentTerm) r.maxSentTerm = m.term
    const hs = disk.hardState
    switch (m._tag) {
      case "RequestVote":
        if (!m.preVote && !(hs.term > m.term || (hs.term === m.term && hs.vote === id))) {
          this.fail(
            Invariant.durability,
            `n${id} asked for votes in term ${m.term} before its own vote was durable`
          )
        }
        break
      case "RequestVoteResponse": {
        if (!m.granted || m.preVote) break
        if (!(hs.term > m.term || (hs.term === m.term && hs.vote === to))) {
          this.fail(
            Invariant.durability,
            `n${id} granted its vote to n${to} in term ${m.term} while its disk holds term ${hs.term} vote ${hs.vote}`
          )
        }
        const before = r.votes.get(m.term)
        if (before !== undefined && before !== to) {
          this.fail(Invariant.electionSafety, `n${id} voted for n${before} and n${to} in term ${m.term}`)
        }
        r.votes.set(m.term, to)
        break
      }
      case "AppendEntriesResponse": {
        if (!m.success) break
        if (!disk.covers(m.index)) {
          this.fail(
            Invariant.durability,
            `n${id} acknowledged entries through ${m.index} (term ${m.term}) but its disk ends at ${disk.lastIndex()}`
          )
          break
        }
        const leader = this.live.get(this.leaders.get(m.term) ?? 0)
        const mine = disk.termAt(m.index)
        if (leader !== undefined && leader.term === m.term && mine !== undefined) {
          const theirs = Log.termAt(leader.log, m.index)
          if (theirs !== undefined && theirs !== mine) {
            this.fail(
              Invariant.durability,
              `n${id} acknowledged index ${m.index} to the leader of term ${m.term}, which holds term ${theirs} there; its disk holds term ${mine}`
            )
          }
        }
        break
      }
      case "InstallSnapshotResponse": {
        const snap = disk.snapshot?.meta.index ?? 0
        if (m.done) {
          if (snap < m.snapshotIndex && disk.lastIndex() < m.snapshotIndex) {
            this.fail(
              Invariant.durability,
              `n${id} acknowledged snapshot ${m.snapshotIndex} as installed; its disk holds ${snap}`
            )
          }
        } else if (m.nextOffset > 0 && snap < m.snapshotIndex) {
          const inc = disk.incoming
          const held = inc !== undefined && inc.meta.index === m.snapshotIndex ? inc.filled : 0
          if (held < m.nextOffset) {
            this.fail(
              Invariant.durability,
              `n${id} acknowledged ${m.nextOffset} bytes of snapshot ${m.snapshotIndex}; its disk holds ${held}`
            )
          }
        }
        break
      }
      default:
        break
    }
  }

  /** A client issued read `readId` at node `node`. */
  readIssued(readId: number, node: NodeId): void {
    this.reads.set(readId, { node, minIndex: this.committedMax, done: false })
  }

  /**
   * Node `node` serves read `readId` at read index `index` with its state machine applied through
   * `applied`. Returns true when this read was checked (false: unknown or already answered).
   */
  readServed(node: NodeId, readId: number, index: number, applied: number): boolean {
    const r = this.reads.get(readId)
    if (r === undefined || r.done) return false
    r.done = true
    if (r.node !== node) {
      this.fail(Invariant.linearizableRead, `read ${readId} issued at n${r.node} was answered by n${node}`)
    } else if (index < r.minIndex) {
      this.fail(
        Invariant.linearizableRead,
        `read ${readId} at n${node} served at index ${index}, but ${r.minIndex} was committed before it was issued`
      )
    } else if (applied < index) {
      this.fail(
        Invariant.linearizableRead,
        `read ${readId} at n${node} served at index ${index} with only ${applied} applied`
      )
    }
    return true
  }

  /** Has read `readId` been answered (served or failed)? */
  readAnswered(readId: number): boolean {
    return this.reads.get(readId)?.done === true
  }

  /** Read `readId` failed (retryably): nothing to check, it is just no longer pending. */
  readFailed(readId: number): void {
    const r = this.reads.get(readId)
    if (r !== undefined) r.done = true
  }
}
