import { describe, expect, it } from "vitest"
import { Log, type Message, type RaftState } from "../../src/core/index.ts"
import {
  appendOk,
  boot,
  elect,
  follower,
  Net,
  only,
  persist,
  persisted,
  propose,
  recv,
  roleChanged,
  send,
  setTimer,
  stepAll,
  stepOk,
  tick,
  transferTo,
  voteReq,
  voteResp
} from "./helpers.ts"

/** Leader 1 of {1,2,3} in term 1 elected at 1000, its no-op (index 1) acked by both followers. */
const steadyLeader = (): RaftState =>
  stepAll(elect(1), [recv(2, appendOk(1, 1), 1000), recv(3, appendOk(1, 1), 1000)]).state

const timeoutNow = (term: number): Message => ({ _tag: "TimeoutNow", term })
const X = Uint8Array.of(1)

describe("3.10 leadership transfer", () => {
  it("3.10 a leader whose target holds its whole log sends TimeoutNow at once", () => {
    const { state, commands } = stepOk(steadyLeader(), transferTo(2, 1050))
    expect(commands).toEqual([send(2, timeoutNow(1))])
    expect(state.transfer).toEqual({ to: 2, deadline: 1050 + 1000 })
  })

  it("3.10 during a transfer the leader refuses proposals", () => {
    const s = stepOk(steadyLeader(), transferTo(2, 1050)).state
    expect(stepOk(s, propose(4, [X], 1060)).commands).toEqual([
      { _tag: "ProposalDropped", id: 4, reason: "TransferInProgress", leader: 1 }
    ])
  })

  it("3.10 the leader first brings a lagging target up to date, then sends TimeoutNow", () => {
    const s = stepAll(steadyLeader(), [propose(1, [X], 1010), persisted(3, 1011)]).state
    const t = stepOk(s, transferTo(2, 1050))
    expect(t.commands).toEqual([]) // entry 2 is already on its way to node 2
    const r = stepOk(t.state, recv(2, appendOk(1, 2), 1060))
    expect(r.commands).toEqual([
      { _tag: "Apply", firstIndex: 2, entries: [{ term: 1, kind: "command", data: X }] },
      send(2, timeoutNow(1))
    ])
  })

  it("3.10 the target starts an election at once, without PreVote, marked as a transfer", () => {
    const f = follower(2, 1, 1, { log: [1] }, 900)
    const { state, commands } = stepOk(f, recv(1, timeoutNow(1), 1000, 0.5))
    const rv = voteReq(2, 1, 1, { transfer: true })
    expect(commands).toEqual([
      persist(1, { term: 2, vote: 2 }),
      roleChanged("candidate", 2, 0),
      send(1, rv, 1),
      send(3, rv, 1),
      setTimer(1000 + 1000 + 500)
    ])
    expect(state).toMatchObject({ role: "candidate", term: 2, vote: 2 })
  })

  it("3.10 voters (and the old leader) ignore their lease for a transfer election", () => {
    const voter = follower(3, 1, 1, { log: [1] }, 900)
    const rv = voteReq(2, 1, 1, { transfer: true })
    // Without the transfer mark, the lease refuses it ...
    expect(stepOk(voter, recv(2, voteReq(2, 1, 1), 1000)).commands).toEqual([send(2, voteResp(1, false))])
    // ... with it, the vote is granted.
    const r = stepOk(voter, recv(2, rv, 1000))
    expect(only(r.commands, "Send")).toEqual([send(2, voteResp(2, true), 1)])
    const old = stepOk(steadyLeader(), recv(2, rv, 1050))
    expect(old.state).toMatchObject({ role: "follower", term: 2, vote: 2 })
  })

  it("3.10 TimeoutNow from a node other than our leader is ignored", () => {
    const f = follower(2, 1, 1, { log: [1] }, 900)
    expect(stepOk(f, recv(3, timeoutNow(1), 1000)).commands).toEqual([])
  })

  it("3.10 a transfer not completed within an election timeout is abandoned and proposals resume", () => {
    const s = stepOk(steadyLeader(), transferTo(2, 1050)).state
    expect(stepOk(s, tick(2049)).state.transfer).toBeDefined()
    const aborted = stepOk(s, tick(2050)).state
    expect(aborted).toMatchObject({ role: "leader", transfer: undefined })
    const r = stepOk(aborted, propose(5, [X], 2060))
    expect(only(r.commands, "Proposed")).toEqual([{ _tag: "Proposed", id: 5, firstIndex: 2, term: 1 }])
  })

  it("3.10 a transfer to itself, to a non-member, or by a non-leader does nothing", () => {
    const leader = steadyLeader()
    expect(stepOk(leader, transferTo(1, 1050)).state.transfer).toBeUndefined()
    expect(stepOk(leader, transferTo(9, 1050)).state.transfer).toBeUndefined()
    expect(stepOk(follower(2, 1, 1), transferTo(3, 10)).commands).toEqual([])
  })

  it("3.10 end to end: leadership moves to the target and the cluster keeps committing", () => {
    const net = new Net([boot(1), boot(2), boot(3)])
    net.tick(1)
    net.settle()
    net.step(1, transferTo(3, net.now))
    net.settle()
    expect(net.get(3)).toMatchObject({ role: "leader", term: 2 })
    expect(net.get(1)).toMatchObject({ role: "follower", term: 2, leader: 3 })
    net.step(3, propose(1, [X], net.now))
    net.settle()
    expect(net.get(3).commitIndex).toBe(Log.lastIndex(net.get(3).log))
    expect(net.get(3).commitIndex).toBe(3) // no-op of term 1, no-op of term 2, the proposal
  })
})
