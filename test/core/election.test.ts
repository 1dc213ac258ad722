import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Log } from "../../src/core/index.ts"
import {
  append,
  appendOk,
  appendReject,
  boot,
  ELECTION_MIN,
  elect,
  follower,
  noop,
  only,
  persist,
  Net,
  persisted,
  propose,
  recv,
  roleChanged,
  send,
  setTimer,
  stepAll,
  stepOk,
  termsOf,
  tick,
  voteReq,
  voteResp
} from "./helpers.ts"

/** Paper section 5.1/5.2/5.4.1 with PreVote off: the base algorithm. */
const noPreVote = { config: { preVote: false } } as const

describe("5.1 terms", () => {
  it("5.1 a server that sees a higher term in a response adopts it and becomes a follower", () => {
    const leader = elect(1)
    const { state, commands } = stepOk(leader, recv(2, appendOk(3, 0), 1500, 0.5))
    expect(commands).toEqual([
      persist(leader.nextWriteId, { term: 3, vote: 0 }),
      roleChanged("follower", 3, 0),
      setTimer(1500 + ELECTION_MIN + 500)
    ])
    expect(state).toMatchObject({ role: "follower", term: 3, vote: 0, leader: 0 })
    expect(state.progress.size).toBe(0)
  })

  it("5.1 a follower that receives an AppendEntries of a higher term adopts the term and its sender as leader", () => {
    const s = boot(2, { term: 1, log: [1] })
    const { state, commands } = stepOk(s, recv(1, append({ term: 3, prevLogIndex: 1, prevLogTerm: 1 }), 30))
    expect(commands).toEqual([
      persist(1, { term: 3, vote: 0 }),
      roleChanged("follower", 3, 1),
      send(1, appendOk(3, 1), 1),
      setTimer(30 + ELECTION_MIN)
    ])
    expect(state).toMatchObject({ term: 3, vote: 0, leader: 1, role: "follower" })
  })

  it("5.1 a server with a stale term rejects the request, telling the sender its term", () => {
    const s = follower(2, 1, 2, { log: [1, 2] })
    const stale = append({ term: 1, prevLogIndex: 2, prevLogTerm: 2, leaderCommit: 2 })
    const { state, commands } = stepOk(s, recv(3, stale, 500))
    expect(commands).toEqual([
      send(3, {
        _tag: "AppendEntriesResponse",
        term: 2,
        success: false,
        index: 0,
        conflictTerm: 0,
        conflictIndex: 0,
        round: 0
      })
    ])
    // The stale leader is not recognised: same leader, same election deadline, nothing committed.
    expect(state).toEqual(s)
  })

  it("5.1 a response from an older term is ignored", () => {
    const leader = elect(1, { term: 3 })
    const { state, commands } = stepOk(leader, recv(2, appendOk(2, 1), 1100))
    expect(commands).toEqual([])
    expect(state).toEqual(leader)
  })
})

describe("5.2 leader election", () => {
  it("5.2 a follower that hears nothing within the election timeout starts an election", () => {
    const s = boot(1, noPreVote)
    expect(s.electionDeadline).toBe(ELECTION_MIN)
    // Not before the deadline.
    expect(stepOk(s, tick(ELECTION_MIN - 1)).commands).toEqual([])
    const { state, commands } = stepOk(s, tick(ELECTION_MIN, 0.25))
    const rv = voteReq(1, 0, 0)
    expect(commands).toEqual([
      persist(1, { term: 1, vote: 1 }),
      roleChanged("candidate", 1, 0),
      send(2, rv, 1),
      send(3, rv, 1),
      setTimer(ELECTION_MIN + ELECTION_MIN + 250)
    ])
    expect(state).toMatchObject({ role: "candidate", term: 1, vote: 1 })
  })

  it("5.2 a candidate's RequestVote carries its last log index and term", () => {
    const s = boot(1, { ...noPreVote, term: 3, log: [1, 2, 3, 3] })
    const sends = only(stepOk(s, tick(ELECTION_MIN)).commands, "Send")
    expect(sends.map((c) => c.message)).toEqual([voteReq(4, 4, 3), voteReq(4, 4, 3)])
  })

  it("5.2 randomized election timeout in [min,max) drawn from the event's random", () => {
    const s = follower(2, 1, 1)
    const heartbeat = append({ term: 1, prevLogIndex: 0, prevLogTerm: 0 })
    expect(stepOk(s, recv(1, heartbeat, 500, 0.5)).state.electionDeadline).toBe(500 + 1000 + 500)
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (random) => {
        const { state, commands } = stepOk(s, recv(1, heartbeat, 500, random))
        const deadline = state.electionDeadline
        expect(deadline).toBeGreaterThanOrEqual(500 + s.config.electionTimeoutMin)
        expect(deadline).toBeLessThan(500 + s.config.electionTimeoutMax)
        expect(only(commands, "SetTimer")).toEqual(deadline === s.timerAt ? [] : [setTimer(deadline)])
      })
    )
  })

  it("5.2 a candidate wins with votes from a majority, then appends a no-op and replicates it", () => {
    const candidate = stepOk(boot(1, noPreVote), tick(ELECTION_MIN)).state
    // Its own vote alone is not a majority of three.
    expect(candidate.role).toBe("candidate")
    const { state, commands } = stepOk(candidate, recv(2, voteResp(1, true), 1200))
    const ae = {
      _tag: "AppendEntries",
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [noop(1)],
      leaderCommit: 0,
      round: 0
    } as const
    expect(commands).toEqual([
      roleChanged("leader", 1, 1),
      persist(2, undefined, { from: 1, entries: [noop(1)] }),
      // Sent before the leader's own write is durable (dissertation 10.2.1).
      send(2, ae),
      send(3, ae),
      setTimer(1200 + 100)
    ])
    expect(state).toMatchObject({ role: "leader", leader: 1, term: 1, commitIndex: 0 })
    expect(Log.lastIndex(state.log)).toBe(1)
  })

  it("5.2 a candidate refused by a majority returns to follower; a split vote waits for the next timeout", () => {
    const candidate = stepOk(boot(1, noPreVote), tick(ELECTION_MIN)).state
    const split = stepOk(candidate, recv(2, voteResp(1, false), 1100))
    expect(split.commands).toEqual([])
    expect(split.state.role).toBe("candidate")
    const lost = stepOk(split.state, recv(3, voteResp(1, false), 1200, 0.1))
    expect(lost.commands).toEqual([roleChanged("follower", 1, 0), setTimer(1200 + 1000 + 100)])
    // A candidate whose timer fires starts a new election in a new term.
    const again = stepOk(split.state, tick(split.state.electionDeadline))
    expect(again.state).toMatchObject({ role: "candidate", term: 2, vote: 1 })
    expect(again.commands[0]).toEqual(persist(2, { term: 2, vote: 1 }))
  })

  it("5.2 a candidate that hears from a leader of its term becomes its follower", () => {
    const candidate = stepOk(boot(1, noPreVote), tick(ELECTION_MIN)).state
    const durable = stepOk(candidate, persisted(1, 1050)).state
    const heartbeat = append({ term: 1, prevLogIndex: 0, prevLogTerm: 0 })
    const { state, commands } = stepOk(durable, recv(3, heartbeat, 1100))
    expect(commands).toEqual([roleChanged("follower", 1, 3), send(3, appendOk(1, 0)), setTimer(1100 + 1000)])
    expect(state).toMatchObject({ role: "follower", leader: 3, term: 1, vote: 1 })
  })

  it("5.2 a vote is granted durably: the reply waits for the write that records it", () => {
    const s = boot(2, noPreVote)
    const { state, commands } = stepOk(s, recv(1, voteReq(1, 0, 0), 100, 0.5))
    // (Still a follower knowing no leader: no RoleChanged.)
    expect(commands).toEqual([
      persist(1, { term: 1, vote: 1 }),
      send(1, voteResp(1, true), 1),
      setTimer(100 + 1000 + 500)
    ])
    expect(state).toMatchObject({ term: 1, vote: 1 })
  })

  it("5.2 each server votes for at most one candidate per term", () => {
    const voted = stepOk(boot(2, noPreVote), recv(1, voteReq(1, 0, 0), 100)).state
    // Another candidate of the same term is refused (and nothing is written); the refusal carries
    // term 1, so it too waits for the write that records it.
    const other = stepOk(voted, recv(3, voteReq(1, 0, 0), 150))
    expect(other.commands).toEqual([send(3, voteResp(1, false), 1)])
    expect(other.state.vote).toBe(1)
    // The same candidate asking again (its reply was lost) is granted again, still after the vote
    // is durable.
    const again = stepOk(voted, recv(1, voteReq(1, 0, 0), 150))
    const grant = only(again.commands, "Send")
    expect(grant.map((c) => c.message)).toEqual([voteResp(1, true)])
    expect(grant[0]!.afterWrite).toBeGreaterThanOrEqual(1)
    expect(again.state.vote).toBe(1)
    // After a restart from the durable vote, still no second vote in term 1.
    const restarted = boot(2, { ...noPreVote, term: 1, vote: 1 })
    expect(stepOk(restarted, recv(3, voteReq(1, 0, 0), 10)).commands).toEqual([send(3, voteResp(1, false))])
  })

  it("5.2 a vote request of a newer term resets the vote", () => {
    const voted = boot(2, { ...noPreVote, term: 1, vote: 1 })
    const { state, commands } = stepOk(voted, recv(3, voteReq(2, 0, 0), 10))
    expect(state).toMatchObject({ term: 2, vote: 3 })
    expect(commands[0]).toEqual(persist(1, { term: 2, vote: 3 }))
  })
})

describe("5.4.1 election restriction", () => {
  /** Voter 2 holds terms 1 1 2 (last index 3, last term 2) and is in term 2. */
  const voter = () => boot(2, { ...noPreVote, term: 2, log: [1, 1, 2] })

  it("5.4.1 vote denied to a candidate with a less up-to-date log (older last term)", () => {
    const { state, commands } = stepOk(voter(), recv(1, voteReq(3, 9, 1), 10))
    // The newer term is adopted (paper 5.1) and made durable before the refusal that carries it.
    expect(commands).toEqual([
      persist(1, { term: 3, vote: 0 }),
      send(1, voteResp(3, false), 1),
      setTimer(10 + 1000)
    ])
    expect(state).toMatchObject({ term: 3, vote: 0 })
  })

  it("5.4.1 vote denied to a candidate with the same last term and a shorter log", () => {
    const { state, commands } = stepOk(voter(), recv(1, voteReq(3, 2, 2), 10))
    expect(only(commands, "Send")).toEqual([send(1, voteResp(3, false), 1)])
    expect(state.vote).toBe(0)
  })

  it("5.4.1 vote granted to a candidate at least as up-to-date (same last term and length, or newer last term)", () => {
    const same = stepOk(voter(), recv(1, voteReq(3, 3, 2), 10))
    expect(only(same.commands, "Send")).toEqual([send(1, voteResp(3, true), 1)])
    const newer = stepOk(voter(), recv(1, voteReq(3, 2, 3), 10))
    expect(only(newer.commands, "Send")).toEqual([send(1, voteResp(3, true), 1)])
  })
})

describe("9.6 PreVote", () => {
  it("9.6 a follower whose election timeout elapses starts a pre-vote: nobody's term changes", () => {
    const s = boot(1, { term: 2, log: [1, 2] })
    const { state, commands } = stepOk(s, tick(ELECTION_MIN, 0.5))
    const pv = voteReq(3, 2, 2, { preVote: true })
    expect(commands).toEqual([
      roleChanged("precandidate", 2, 0),
      send(2, pv),
      send(3, pv),
      setTimer(ELECTION_MIN + 1000 + 500)
    ])
    expect(state).toMatchObject({ role: "precandidate", term: 2, vote: 0 })
  })

  it("9.6 a voter grants a pre-vote without changing its term, vote or timer", () => {
    const s = boot(2, { term: 2, log: [1, 2] })
    const { state, commands } = stepOk(s, recv(1, voteReq(3, 2, 2, { preVote: true }), 50))
    expect(commands).toEqual([send(1, voteResp(3, true, true))])
    expect(state).toEqual(s)
    // ... and refuses one from a less up-to-date log, with its own term.
    const refused = stepOk(s, recv(1, voteReq(3, 1, 1, { preVote: true }), 50))
    expect(refused.commands).toEqual([send(1, voteResp(2, false, true))])
  })

  it("9.6 a voter that already voted in the pre-vote's term still grants it (it would vote in a later term)", () => {
    const s = boot(2, { term: 2, vote: 3, log: [1, 2] })
    expect(stepOk(s, recv(1, voteReq(3, 2, 2, { preVote: true }), 50)).commands).toEqual([
      send(1, voteResp(3, true, true))
    ])
  })

  it("9.6 a pre-candidate with a majority of pre-votes starts the real election", () => {
    const pre = stepOk(boot(1, { term: 2, log: [1, 2] }), tick(ELECTION_MIN)).state
    const { state, commands } = stepOk(pre, recv(3, voteResp(3, true, true), 1100, 0.5))
    const rv = voteReq(3, 2, 2)
    expect(commands).toEqual([
      persist(1, { term: 3, vote: 1 }),
      roleChanged("candidate", 3, 0),
      send(2, rv, 1),
      send(3, rv, 1),
      setTimer(1100 + 1000 + 500)
    ])
    expect(state).toMatchObject({ role: "candidate", term: 3, vote: 1 })
  })

  it("9.6 a pre-candidate refused by a majority returns to follower in its own term", () => {
    const pre = stepOk(boot(1, { term: 2, log: [1, 2] }), tick(ELECTION_MIN)).state
    const { state, commands } = stepAll(pre, [
      recv(2, voteResp(2, false, true), 1100),
      recv(3, voteResp(2, false, true), 1100)
    ])
    expect(commands).toEqual([roleChanged("follower", 2, 0), setTimer(1100 + 1000)])
    expect(state).toMatchObject({ role: "follower", term: 2, vote: 0 })
  })

  it("9.6 pre-vote answers from another round are not counted", () => {
    const pre = stepOk(boot(1, { term: 2, log: [1, 2] }), tick(ELECTION_MIN)).state
    // A grant for a different future term, and a real vote response, do not make a majority.
    const r = stepAll(pre, [recv(2, voteResp(5, true, true), 1100), recv(3, voteResp(2, true), 1100)])
    expect(r.state.role).toBe("precandidate")
    expect(r.state.term).toBe(2)
  })

  it("9.6 a node that heard from its leader within the minimum election timeout rejects pre-votes (lease)", () => {
    const s = follower(2, 1, 1, { log: [1] }, 0)
    const pv = voteReq(2, 1, 1, { preVote: true })
    const inLease = stepOk(s, recv(3, pv, ELECTION_MIN - 1))
    expect(inLease.commands).toEqual([send(3, voteResp(1, false, true))])
    expect(inLease.state).toEqual(s)
    // Once the lease has run out the same request is granted.
    expect(stepOk(s, recv(3, pv, ELECTION_MIN)).commands).toEqual([send(3, voteResp(2, true, true))])
  })

  it("4.2.3 a node in lease also ignores a real vote request of a newer term: no term bump, no vote", () => {
    const s = follower(2, 1, 1, { log: [1] }, 0)
    const { state, commands } = stepOk(s, recv(3, voteReq(2, 1, 1), 500))
    expect(commands).toEqual([send(3, voteResp(1, false))])
    expect(state).toEqual(s)
  })

  it("9.6 a leader is in its own lease: it rejects pre-votes while CheckQuorum keeps it leader", () => {
    const leader = elect(1, { log: [] })
    expect(stepOk(leader, recv(3, voteReq(2, 1, 1, { preVote: true }), 1100)).commands).toEqual([
      send(3, voteResp(1, false, true))
    ])
  })
})

describe("6.2 CheckQuorum", () => {
  it("6.2 a leader that hears from no majority within an election timeout steps down", () => {
    const leader = elect(1) // at 1000: quorum check due at 2000
    expect(leader.quorumDeadline).toBe(2000)
    const { state, commands } = stepOk(leader, tick(2000, 0.3))
    expect(commands).toEqual([roleChanged("follower", 1, 0), setTimer(2000 + 1000 + 300)])
    expect(state).toMatchObject({ role: "follower", term: 1, leader: 0 })
  })

  it("6.2 a leader that heard from a majority stays leader for another election timeout", () => {
    const leader = elect(1)
    const heard = stepOk(leader, recv(2, appendOk(1, 1), 1500)).state
    const kept = stepOk(heard, tick(2000))
    expect(kept.state.role).toBe("leader")
    expect(kept.state.quorumDeadline).toBe(3000)
    // Silence for the next whole timeout: it steps down at the next check.
    expect(stepOk(kept.state, tick(3000)).state.role).toBe("follower")
  })

  it("6.2 with CheckQuorum off, a leader keeps leading in silence", () => {
    const leader = elect(1, { config: { checkQuorum: false } })
    expect(stepOk(leader, tick(5000)).state.role).toBe("leader")
  })
})

describe("9.6 + 6.2 PreVote with CheckQuorum: no liveness trap (etcd issues 8243, 9586)", () => {
  const heartbeatAt = (term: number) => append({ term, prevLogIndex: 0, prevLogTerm: 0 })

  it("9.6 a stale leader learns the higher term from an AppendEntries rejection and steps down", () => {
    const ahead = boot(3, { term: 5 })
    const rejection = stepOk(ahead, recv(1, heartbeatAt(1), 1100))
    expect(rejection.commands).toEqual([send(1, appendReject(5, 0, 0, 0))])
    const { state, commands } = stepOk(elect(1), recv(3, appendReject(5, 0, 0, 0), 1110))
    expect(commands).toEqual([
      persist(3, { term: 5, vote: 0 }),
      roleChanged("follower", 5, 0),
      setTimer(1110 + 1000)
    ])
    expect(state).toMatchObject({ role: "follower", term: 5 })
  })

  it("9.6 a lower-term pre-vote is answered with our term, which the pre-candidate adopts", () => {
    const ahead = boot(3, { term: 5 })
    const answer = stepOk(ahead, recv(1, voteReq(2, 0, 0, { preVote: true }), 1000))
    expect(answer.commands).toEqual([send(1, voteResp(5, false, true))])
    const pre = stepOk(boot(1, { term: 1 }), tick(1000)).state
    const { state, commands } = stepOk(pre, recv(3, voteResp(5, false, true), 1010))
    expect(commands).toEqual([
      persist(1, { term: 5, vote: 0 }),
      roleChanged("follower", 5, 0),
      setTimer(1010 + 1000)
    ])
    expect(state).toMatchObject({ role: "follower", term: 5 })
    // Its next pre-vote asks for term 6, which a node of term 5 can grant.
    expect(only(stepOk(state, tick(state.electionDeadline)).commands, "Send")[0]!.message).toEqual(
      voteReq(6, 0, 0, { preVote: true })
    )
  })

  it("9.6 a node whose term ran ahead during a partition rejoins and the cluster still elects a leader", () => {
    // Node 3 campaigns without PreVote (or restarted with a higher term): its term runs ahead.
    const net = new Net([boot(1), boot(2), boot(3, { config: { preVote: false } })])
    net.isolate(3)
    net.tick(1)
    net.settle()
    expect(net.get(1)).toMatchObject({ role: "leader", term: 1 })
    net.step(1, propose(1, [Uint8Array.of(1)], net.now))
    net.settle()
    for (let fired = 0; fired < 4; ) {
      net.settle()
      if (net.fireNextTimer() === 3) fired++
    }
    expect(net.get(3).term).toBe(4)
    expect(net.get(1)).toMatchObject({ role: "leader", term: 1 })
    net.heal()
    // Everyone settles on one leader of a term above node 3's, with node 3 caught up.
    net.runUntil(() => {
      const leaders = [...net.nodes.values()].filter((s) => s.role === "leader")
      if (leaders.length !== 1) return false
      const l = leaders[0]!
      return (
        l.term > 4 &&
        l.commitIndex === Log.lastIndex(l.log) &&
        [...net.nodes.values()].every(
          (s) => s.term === l.term && s.leader === l.config.id && termsOf(s).join() === termsOf(l).join()
        )
      )
    })
    const leader = [...net.nodes.values()].find((s) => s.role === "leader")!
    // The leader of term 1 learned term 4 from node 3's rejection of its heartbeat and stepped down.
    expect(net.log.get(1)).toContainEqual(roleChanged("follower", 4, 0))
    // Node 3's stale log cannot win; the entries committed in term 1 survive.
    expect(leader.config.id).not.toBe(3)
    expect(termsOf(leader).slice(0, 2)).toEqual([1, 1])
  })

  it("9.6 with PreVote, a partitioned node does not disrupt the cluster when it rejoins", () => {
    const net = new Net([boot(1), boot(2), boot(3)])
    net.tick(1)
    net.settle()
    net.isolate(3)
    // Time passes for everyone; node 3's election timer fires five times.
    for (let fired = 0; fired < 5; ) {
      net.settle()
      if (net.fireNextTimer() === 3) fired++
    }
    expect(net.get(3)).toMatchObject({ role: "precandidate", term: 1 })
    net.heal()
    net.runUntil(() => net.get(3).leader === 1)
    expect(net.get(1)).toMatchObject({ role: "leader", term: 1 })
    expect(net.get(3)).toMatchObject({ role: "follower", term: 1 })
  })
})
