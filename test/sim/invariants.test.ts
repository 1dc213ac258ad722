import { describe, expect, it } from "vitest"
import { type Entry, Log, type Role } from "../../src/core/index.ts"
import { Disk } from "./disk.ts"
import { Checker, Invariant, type NodeView } from "./invariants.ts"
import { applyHash } from "./statemachine.ts"

const e = (term: number, tag = 0): Entry => ({ term, kind: "command", data: new Uint8Array([term, tag]) })

const view = (
  role: Role,
  term: number,
  entries: Entry[],
  commitIndex = 0,
  extra: Partial<NodeView> = {}
): NodeView => ({
  role,
  term,
  vote: 0,
  log: Log.fromEntries(0, 0, entries),
  commitIndex,
  appliedIndex: 0,
  ...extra
})

const violated = (c: Checker): string | undefined => c.violation?.invariant

describe("Checker flags hand-made violations", () => {
  it("accepts a consistent history", () => {
    const c = new Checker()
    const log = [e(1, 1), e(1, 2), e(2, 3)]
    c.afterStep(1, view("leader", 2, log, 3))
    c.afterStep(2, view("follower", 2, log.slice(0, 2), 2))
    c.afterStep(3, view("follower", 2, log, 3, { appliedIndex: 3 }))
    c.afterStep(3, view("leader", 3, log, 3))
    expect(c.violation).toBeUndefined()
    expect(c.committedMax).toBe(3)
    expect(c.leaders.size).toBe(2)
  })

  it("Election Safety: two leaders in one term", () => {
    const c = new Checker()
    c.afterStep(1, view("leader", 4, []))
    expect(c.violation).toBeUndefined()
    c.afterStep(2, view("leader", 4, []))
    expect(violated(c)).toBe(Invariant.electionSafety)
  })

  it("Election Safety: one node voting for two candidates in a term", () => {
    const c = new Checker()
    const disk = new Disk()
    disk.hardState = { term: 3, vote: 2 }
    c.sent(1, 2, { _tag: "RequestVoteResponse", term: 3, granted: true, preVote: false }, disk)
    expect(c.violation).toBeUndefined()
    disk.hardState = { term: 3, vote: 3 }
    c.sent(1, 3, { _tag: "RequestVoteResponse", term: 3, granted: true, preVote: false }, disk)
    expect(violated(c)).toBe(Invariant.electionSafety)
  })

  it("Log Matching: same index and term, different entries", () => {
    const c = new Checker()
    c.afterStep(1, view("follower", 1, [e(1, 1)]))
    c.afterStep(2, view("follower", 1, [e(1, 2)]))
    expect(violated(c)).toBe(Invariant.logMatching)
  })

  it("Log Matching: same entry at an index, different predecessors", () => {
    const c = new Checker()
    const shared = e(3, 7)
    c.afterStep(1, view("follower", 3, [e(1), shared]))
    c.afterStep(2, view("follower", 3, [e(2), shared]))
    expect(violated(c)).toBe(Invariant.logMatching)
  })

  it("Log Matching: checks what a node appends after truncating its own log", () => {
    const c = new Checker()
    c.afterStep(2, view("follower", 3, [e(1, 1), e(1, 2), e(3, 1)]))
    const first = view("follower", 3, [e(1, 1), e(1, 2), e(2, 1)])
    c.afterStep(1, first)
    // Node 1 replaces (3, term 2) by a (3, term 3) other than node 2's: found incrementally.
    c.afterStep(1, { ...first, log: Log.append(Log.truncateFrom(first.log, 3), [e(3, 9)]) })
    expect(violated(c)).toBe(Invariant.logMatching)
  })

  it("Leader Completeness: a new leader lacking a committed entry", () => {
    const c = new Checker()
    c.afterStep(1, view("leader", 1, [e(1, 1), e(1, 2)], 2))
    c.afterStep(2, view("leader", 2, [e(1, 1)]))
    expect(violated(c)).toBe(Invariant.leaderCompleteness)
  })

  it("Leader Completeness: an entry learned committed that a later leader lacks", () => {
    const c = new Checker()
    c.afterStep(2, view("leader", 3, [e(1, 1)]))
    c.afterStep(1, view("follower", 2, [e(1, 1), e(2, 2)], 2))
    expect(violated(c)).toBe(Invariant.leaderCompleteness)
  })

  it("Leader commit rule: a leader counting replicas of an entry of an earlier term", () => {
    const c = new Checker()
    const log = [e(1), e(1), e(2)]
    c.afterStep(1, view("leader", 2, log, 1))
    c.afterStep(1, view("leader", 2, log, 3))
    expect(c.violation).toBeUndefined()
    const d = new Checker()
    d.afterStep(1, view("leader", 3, log, 1))
    d.afterStep(1, view("leader", 3, log, 2))
    expect(violated(d)).toBe(Invariant.leaderCommitRule)
  })

  it("Leader Completeness binds leaders after the term that committed an entry, not its own term", () => {
    const c = new Checker()
    // n3 leads term 11 with its own (2, term 4); n2, leader of term 12, commits (2, term 7).
    c.afterStep(3, view("leader", 11, [e(1), e(4)], 1))
    c.afterStep(2, view("leader", 12, [e(1), e(7), e(12)], 3))
    expect(c.violation).toBeUndefined()
    // A leader of term 13 without it is wrong.
    c.afterStep(1, view("leader", 13, [e(1), e(4)], 1))
    expect(violated(c)).toBe(Invariant.leaderCompleteness)
  })

  it("State Machine Safety: two nodes applying different entries at an index", () => {
    const c = new Checker()
    const a = e(1, 1)
    const b = e(1, 2)
    c.applied(1, 1, a, applyHash(0, 1, a))
    expect(c.violation).toBeUndefined()
    c.applied(2, 1, b, applyHash(0, 1, b))
    expect(violated(c)).toBe(Invariant.stateMachineSafety)
  })

  it("State Machine Safety: different terms committed at one index", () => {
    const c = new Checker()
    c.afterStep(1, view("follower", 1, [e(1)], 1))
    c.afterStep(2, view("follower", 2, [e(2)], 1))
    expect(violated(c)).toBe(Invariant.stateMachineSafety)
  })

  it("State Machine Safety: restoring a snapshot whose state differs from what was applied", () => {
    const c = new Checker()
    const a = e(1, 1)
    c.applied(1, 1, a, applyHash(0, 1, a))
    c.restored(2, 1, applyHash(0, 1, a))
    expect(c.violation).toBeUndefined()
    c.restored(3, 1, 12345)
    expect(violated(c)).toBe(Invariant.stateMachineSafety)
  })

  it("commit index moving backwards within an incarnation (but not across a restart)", () => {
    const c = new Checker()
    const log = [e(1), e(1), e(1)]
    c.afterStep(1, view("follower", 1, log, 3))
    c.started(1, view("follower", 1, log, 0))
    expect(c.violation).toBeUndefined()
    c.afterStep(1, view("follower", 1, log, 2))
    c.afterStep(1, view("follower", 1, log, 1))
    expect(violated(c)).toBe(Invariant.commitMonotonic)
  })

  it("Durability: a vote granted before it is on disk", () => {
    const c = new Checker()
    const disk = new Disk()
    disk.hardState = { term: 2, vote: 0 }
    c.sent(1, 2, { _tag: "RequestVoteResponse", term: 3, granted: true, preVote: false }, disk)
    expect(violated(c)).toBe(Invariant.durability)
  })

  it("Durability: an append acknowledged beyond the durable log", () => {
    const c = new Checker()
    const disk = new Disk()
    disk.applyPersist({
      _tag: "Persist",
      writeId: 1,
      hardState: undefined,
      log: { from: 1, entries: [e(1)] }
    })
    const ack = {
      _tag: "AppendEntriesResponse",
      term: 1,
      success: true,
      conflictTerm: 0,
      conflictIndex: 0,
      round: 0
    } as const
    c.sent(1, 2, { ...ack, index: 1 }, disk)
    expect(c.violation).toBeUndefined()
    c.sent(1, 2, { ...ack, index: 2 }, disk)
    expect(violated(c)).toBe(Invariant.durability)
  })

  it("Durability: a restarted node with an older term than it sent, or another vote", () => {
    const c = new Checker()
    const disk = new Disk()
    disk.hardState = { term: 5, vote: 2 }
    c.sent(1, 2, { _tag: "RequestVoteResponse", term: 5, granted: true, preVote: false }, disk)
    c.crashed(1)
    c.started(1, view("follower", 5, [], 0, { vote: 2 }))
    expect(c.violation).toBeUndefined()
    c.started(1, view("follower", 5, [], 0, { vote: 0 }))
    expect(violated(c)).toBe(Invariant.durability)
    const d = new Checker()
    d.sent(1, 2, { _tag: "TimeoutNow", term: 4 }, disk)
    d.started(1, view("follower", 3, []))
    expect(violated(d)).toBe(Invariant.durability)
  })

  it("Linearizable read: served below an index committed before it was issued", () => {
    const c = new Checker()
    c.afterStep(1, view("leader", 1, [e(1), e(1), e(1)], 3))
    c.readIssued(7, 2)
    expect(c.readServed(2, 7, 3, 3)).toBe(true)
    expect(c.violation).toBeUndefined()
    c.readIssued(8, 2)
    c.readServed(2, 8, 2, 3)
    expect(violated(c)).toBe(Invariant.linearizableRead)
  })

  it("Linearizable read: served before the state machine reached the read index", () => {
    const c = new Checker()
    c.readIssued(1, 1)
    c.readServed(1, 1, 4, 3)
    expect(violated(c)).toBe(Invariant.linearizableRead)
  })

  it("Linearizable read: a failed read is not checked when answered late", () => {
    const c = new Checker()
    c.afterStep(1, view("leader", 1, [e(1), e(1)], 2))
    c.readIssued(1, 1)
    c.readFailed(1)
    expect(c.readServed(1, 1, 0, 0)).toBe(false)
    expect(c.violation).toBeUndefined()
  })
})
