import { describe, expect, it } from "vitest"
import type { Event, Message, RaftState } from "../../src/core/index.ts"
import {
  append,
  appendOk,
  boot,
  elect,
  entries,
  follower,
  Net,
  only,
  persisted,
  propose,
  readIndex,
  recv,
  send,
  setTimer,
  stepAll,
  stepOk,
  tick
} from "./helpers.ts"

/** Leader 1 of {1,2,3} in term 1 elected at 1000, its no-op committed with both followers. */
const steadyLeader = (): RaftState =>
  stepAll(elect(1), [recv(2, appendOk(1, 1), 1000), recv(3, appendOk(1, 1), 1000)]).state

const heartbeat = (round: number, match = 1, commit = 1): Message =>
  append({ term: 1, prevLogIndex: match, prevLogTerm: 1, leaderCommit: commit, round })

const proposeWithReads = (
  id: number,
  data: ReadonlyArray<Uint8Array>,
  reads: ReadonlyArray<number>,
  now: number
): Event => ({ _tag: "Propose", id, data, reads, now, random: 0 })

const readRequest = (term: number, ids: number[]): Message => ({ _tag: "ReadIndexRequest", term, ids })
const readResponse = (term: number, ids: number[], index: number): Message => ({
  _tag: "ReadIndexResponse",
  term,
  ids,
  index
})

describe("6.4 ReadIndex at the leader", () => {
  it("6.4 a read waits for a heartbeat round acknowledged by a majority, then runs at the commit index", () => {
    const leader = steadyLeader()
    const { state, commands } = stepOk(leader, readIndex([7, 8], 1050))
    // One new round, announced to every follower; nothing served yet.
    expect(commands).toEqual([send(2, heartbeat(1)), send(3, heartbeat(1)), setTimer(1050 + 100)])
    expect(state.pendingReads).toEqual([{ from: 1, ids: [7, 8], round: 1 }])
    // An acknowledgement of an older round confirms nothing.
    expect(stepOk(state, recv(2, appendOk(1, 1, 0), 1060)).commands).toEqual([])
    // One follower acknowledges round 1: with the leader, a majority.
    const r = stepOk(state, recv(2, appendOk(1, 1, 1), 1060))
    expect(r.commands).toEqual([{ _tag: "ReadReady", ids: [7, 8], index: 1 }])
    expect(r.state.pendingReads).toEqual([])
  })

  it("6.4 reads that arrive together share one round; later reads need a later round", () => {
    const leader = steadyLeader()
    const s = stepAll(leader, [readIndex([1, 2, 3], 1050), readIndex([4], 1060)]).state
    expect(s.pendingReads).toEqual([
      { from: 1, ids: [1, 2, 3], round: 1 },
      { from: 1, ids: [4], round: 2 }
    ])
    // A majority for round 1 serves the first batch only.
    const r1 = stepOk(s, recv(3, appendOk(1, 1, 1), 1070))
    expect(only(r1.commands, "ReadReady")).toEqual([{ _tag: "ReadReady", ids: [1, 2, 3], index: 1 }])
    const r2 = stepOk(r1.state, recv(2, appendOk(1, 1, 2), 1080))
    expect(only(r2.commands, "ReadReady")).toEqual([{ _tag: "ReadReady", ids: [4], index: 1 }])
  })

  it("6.4 the read index covers every write committed before the read: entries committed meanwhile too", () => {
    let leader = steadyLeader()
    leader = stepAll(leader, [propose(1, [Uint8Array.of(1)], 1010), persisted(3, 1011)]).state
    const s = stepOk(leader, readIndex([9], 1020)).state
    // The acknowledgement of entry 2 also acknowledges the read's round: index 2 is committed first.
    const r = stepOk(s, recv(2, appendOk(1, 2, 1), 1030))
    expect(r.commands).toEqual([
      { _tag: "Apply", firstIndex: 2, entries: [{ term: 1, kind: "command", data: Uint8Array.of(1) }] },
      { _tag: "ReadReady", ids: [9], index: 2 }
    ])
  })

  it("6.4 a new leader serves no read before it has committed an entry of its term", () => {
    const leader = elect(1) // its no-op (index 1) is not committed yet
    const s = stepOk(leader, readIndex([5], 1010)).state
    // A majority acknowledges the round, but the heartbeat did not carry the no-op.
    const acked = stepOk(s, recv(2, appendOk(1, 0, 1), 1020))
    expect(only(acked.commands, "ReadReady")).toEqual([])
    expect(acked.state.pendingReads).toHaveLength(1)
    // The no-op commits: the read runs, at an index that includes it.
    const r = stepOk(acked.state, recv(2, appendOk(1, 1, 1), 1030))
    expect(only(r.commands, "ReadReady")).toEqual([{ _tag: "ReadReady", ids: [5], index: 1 }])
  })

  it("6.4 a single-node leader confirms reads at once", () => {
    const solo = elect(1, { members: [1] })
    expect(solo.commitIndex).toBe(1)
    // No follower is owed the round: no heartbeat, and the heartbeat timer stays where it was.
    expect(stepOk(solo, readIndex([3], 1010)).commands).toEqual([{ _tag: "ReadReady", ids: [3], index: 1 }])
  })

  it("6.4 reads that arrive with a proposal ride on its AppendEntries: no separate heartbeats", () => {
    const leader = steadyLeader()
    const data = [Uint8Array.of(5)]
    const { state, commands } = stepOk(leader, proposeWithReads(4, data, [7], 1050))
    expect(state.pendingReads).toEqual([{ from: 1, ids: [7], round: 1 }])
    // One message per follower: the entries, carrying round 1.
    const sends = only(commands, "Send")
    expect(sends.map((c) => [c.to, c.message._tag, (c.message as { round: number }).round])).toEqual([
      [2, "AppendEntries", 1],
      [3, "AppendEntries", 1]
    ])
    expect(sends.every((c) => c.message._tag === "AppendEntries" && c.message.entries.length === 1)).toBe(
      true
    )
    // The acknowledgement of the entry confirms the read (with the leader, a majority).
    const writeId = only(commands, "Persist")[0]!.writeId
    const r = stepAll(state, [persisted(writeId, 1051), recv(2, appendOk(1, 2, 1), 1060)])
    expect(only(r.commands, "ReadReady")).toEqual([{ _tag: "ReadReady", ids: [7], index: 2 }])
  })

  it("6.4 a follower that cannot take entries now is still sent the read's round, as a heartbeat", () => {
    // Follower 3 is in probe mode with a probe outstanding: no entries go to it.
    const leader = stepAll(elect(1), [recv(2, appendOk(1, 1), 1000)]).state
    expect(leader.progress.get(3)).toMatchObject({ mode: "probe", probeSent: true })
    const { commands } = stepOk(leader, proposeWithReads(4, [Uint8Array.of(5)], [7], 1050))
    const sends = only(commands, "Send").map((c) => {
      const m = c.message as { entries: ReadonlyArray<unknown>; round: number }
      return [c.to, m.entries.length, m.round]
    })
    expect(sends).toEqual([
      [2, 1, 1], // the entry, carrying the round
      [3, 0, 1] // a heartbeat carrying it, at the end of the step
    ])
  })

  it("6.4 a leader change mid-read fails the read with ReadFailed (never answered from stale state)", () => {
    const s = stepOk(steadyLeader(), readIndex([7], 1050)).state
    // A leader of term 2 shows up before the round is confirmed.
    const { state, commands } = stepOk(s, recv(3, append({ term: 2, prevLogIndex: 1, prevLogTerm: 1 }), 1060))
    expect(only(commands, "ReadFailed")).toEqual([
      { _tag: "ReadFailed", ids: [7], reason: "LeadershipLost", leader: 3 }
    ])
    expect(only(commands, "ReadReady")).toEqual([])
    expect(state).toMatchObject({ role: "follower", pendingReads: [] })
    // A late acknowledgement of the round changes nothing.
    expect(only(stepOk(state, recv(2, appendOk(1, 1, 1), 1070)).commands, "ReadReady")).toEqual([])
  })

  it("6.4 a leader that steps down (CheckQuorum) fails its pending reads", () => {
    const s = stepOk(elect(1), readIndex([7], 1050)).state
    const { commands } = stepOk(s, tick(2000))
    expect(only(commands, "ReadFailed")).toEqual([
      { _tag: "ReadFailed", ids: [7], reason: "LeadershipLost", leader: 0 }
    ])
  })
})

describe("6.4 ReadIndex through a follower", () => {
  it("6.4 a follower forwards reads to the leader, which answers after its own heartbeat round", () => {
    const f = follower(2, 1, 1, { log: [1] })
    const fwd = stepOk(f, readIndex([4, 5], 100))
    expect(fwd.commands).toEqual([send(1, readRequest(1, [4, 5]))])
    expect(fwd.state.forwardedReads).toEqual([{ ids: [4, 5], at: 100 }])
    // The leader treats it as a read of its own, answering the follower once confirmed.
    const leader = steadyLeader()
    const l1 = stepOk(leader, recv(2, readRequest(1, [4, 5]), 1050))
    expect(l1.state.pendingReads).toEqual([{ from: 2, ids: [4, 5], round: 1 }])
    const l2 = stepOk(l1.state, recv(3, appendOk(1, 1, 1), 1060))
    expect(only(l2.commands, "Send")).toEqual([send(2, readResponse(1, [4, 5], 1))])
  })

  it("6.4 the follower serves a forwarded read once it has applied up to the read index", () => {
    const f = stepOk(follower(2, 1, 1, { log: [1, 1, 1] }), readIndex([4], 100)).state
    expect(f.appliedIndex).toBe(0)
    const answered = stepOk(f, recv(1, readResponse(1, [4], 2), 110))
    expect(answered.commands).toEqual([])
    expect(answered.state).toMatchObject({ forwardedReads: [], confirmedReads: [{ ids: [4], index: 2 }] })
    // The commit index reaches 2: apply, then the read (in that order).
    const r = stepOk(
      answered.state,
      recv(1, append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 2 }), 120)
    )
    expect(r.commands.filter((c) => c._tag === "Apply" || c._tag === "ReadReady")).toEqual([
      { _tag: "Apply", firstIndex: 1, entries: entries([1, 1]) },
      { _tag: "ReadReady", ids: [4], index: 2 }
    ])
  })

  it("6.4 a read forwarded to a node that is no longer leader fails", () => {
    const notLeader = follower(1, 3, 2)
    expect(stepOk(notLeader, recv(2, readRequest(2, [4]), 100)).commands).toEqual([
      send(2, readResponse(2, [4], 0))
    ])
    const f = stepOk(follower(2, 1, 1), readIndex([4], 100)).state
    expect(stepOk(f, recv(1, readResponse(1, [4], 0), 110)).commands).toEqual([
      { _tag: "ReadFailed", ids: [4], reason: "LeadershipLost", leader: 1 }
    ])
  })

  it("6.4 forwarded reads fail when the leader changes, or after an election timeout without answer", () => {
    const f = stepOk(follower(2, 1, 1), readIndex([4], 100)).state
    const moved = stepOk(f, recv(3, append({ term: 2, prevLogIndex: 0, prevLogTerm: 0 }), 200))
    expect(only(moved.commands, "ReadFailed")).toEqual([
      { _tag: "ReadFailed", ids: [4], reason: "LeadershipLost", leader: 3 }
    ])
    // The leader keeps heartbeating but never answers the read (request or answer lost): the read
    // fails an election timeout after it was forwarded, and the node asks for that wake-up.
    const alive = stepOk(f, recv(1, heartbeat(0, 0, 0), 900)).state
    expect(alive.timerAt).toBe(100 + 1000)
    expect(only(stepOk(alive, tick(1099)).commands, "ReadFailed")).toEqual([])
    const expired = stepOk(alive, tick(1100))
    expect(expired.commands).toEqual([
      { _tag: "ReadFailed", ids: [4], reason: "LeadershipLost", leader: 1 },
      setTimer(900 + 1000)
    ])
    expect(expired.state).toMatchObject({ role: "follower", leader: 1, forwardedReads: [] })
  })

  it("6.4 a node that knows no leader fails reads at once", () => {
    expect(stepOk(boot(2), readIndex([4], 10)).commands).toEqual([
      { _tag: "ReadFailed", ids: [4], reason: "NoLeader", leader: 0 }
    ])
  })

  it("6.4 end to end: a read through a follower observes a write committed before it", () => {
    const net = new Net([boot(1), boot(2), boot(3)])
    net.tick(1)
    net.settle()
    net.step(1, propose(1, [Uint8Array.of(42)], net.now))
    net.settle()
    net.step(3, readIndex([77], net.now))
    net.settle()
    const ready = only(net.log.get(3)!, "ReadReady")
    expect(ready).toEqual([{ _tag: "ReadReady", ids: [77], index: 2 }])
    // Node 3 had applied the write (index 2) before it ran the read.
    const applies = net.log
      .get(3)!
      .flatMap((c) => (c._tag === "Apply" ? [c.firstIndex + c.entries.length - 1] : []))
    expect(Math.max(...applies)).toBeGreaterThanOrEqual(2)
    expect(net.log.get(3)!.findIndex((c) => c._tag === "ReadReady")).toBeGreaterThan(
      net.log.get(3)!.findIndex((c) => c._tag === "Apply" && c.firstIndex + c.entries.length - 1 >= 2)
    )
  })
})
