import { describe, expect, it } from "vitest"
import { type Command, type Entry, Log, type RaftConfig, type RaftState } from "../../src/core/index.ts"
import {
  append,
  appendOk,
  appendReject,
  boot,
  between,
  elect,
  entries,
  entry,
  follower,
  HEARTBEAT,
  Net,
  noop,
  ofTag,
  only,
  persist,
  persisted,
  propose,
  recv,
  send,
  setTimer,
  stepAll,
  stepOk,
  termsOf,
  tick,
  voteReq,
  voteResp
} from "./helpers.ts"

/** Leader 1 of {1,2,3} in term 1, elected at 1000, whose no-op (index 1) both followers acked:
 * they are in replicate mode, commit index 1, writes 1 (vote) and 2 (no-op) durable. */
const steadyLeader = (patch: Partial<RaftConfig> = {}): RaftState =>
  stepAll(elect(1, { config: patch }), [recv(2, appendOk(1, 1), 1000), recv(3, appendOk(1, 1), 1000)]).state

const A = Uint8Array.of(0xa)
const B = Uint8Array.of(0xb)
const cmd = (data: Uint8Array, term = 1): Entry => ({ term, kind: "command", data })

describe("5.3 log replication (leader)", () => {
  it("5.3 leader appends a no-op at the start of its term and probes each follower with it", () => {
    const leader = elect(1)
    expect(Log.slice(leader.log, 1, 1)).toEqual([noop(1)])
    for (const id of [2, 3]) {
      expect(leader.progress.get(id)).toMatchObject({ mode: "probe", match: 0, next: 1, probeSent: true })
    }
  })

  it("5.3 leader appends a batch of proposals as one write and replicates it in one AppendEntries", () => {
    const leader = steadyLeader()
    expect(leader.commitIndex).toBe(1)
    const { state, commands } = stepOk(leader, propose(7, [A, B], 1050))
    const ae = append({
      term: 1,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [cmd(A), cmd(B)],
      leaderCommit: 1
    })
    expect(commands).toEqual([
      persist(3, undefined, { from: 2, entries: [cmd(A), cmd(B)] }),
      { _tag: "Proposed", id: 7, firstIndex: 2, term: 1 },
      send(2, ae),
      send(3, ae)
    ])
    expect(Log.lastIndex(state.log)).toBe(3)
    expect(state.progress.get(2)).toMatchObject({ mode: "replicate", match: 1, next: 4 })
  })

  it("5.3 leader commits an entry of its term once a majority holds it durably, and applies it", () => {
    const leader = stepOk(steadyLeader(), propose(7, [A, B], 1050)).state
    const durable = stepOk(leader, persisted(3, 1060))
    expect(durable.commands).toEqual([])
    const { state, commands } = stepOk(durable.state, recv(2, appendOk(1, 3), 1070))
    expect(commands).toEqual([{ _tag: "Apply", firstIndex: 2, entries: [cmd(A), cmd(B)] }])
    expect(state).toMatchObject({ commitIndex: 3, appliedIndex: 3 })
  })

  it("5.3 a single-node cluster commits an entry once its own write of it is durable", () => {
    // (It wins in the step its timer fires: its vote and no-op were one write, 1.)
    const solo = elect(1, { members: [1] })
    const { state, commands } = stepOk(solo, propose(3, [A], 1010))
    expect(commands).toEqual([
      persist(2, undefined, { from: 2, entries: [cmd(A)] }),
      { _tag: "Proposed", id: 3, firstIndex: 2, term: 1 }
    ])
    expect(stepOk(state, persisted(2, 1020)).commands).toEqual([
      { _tag: "Apply", firstIndex: 2, entries: [cmd(A)] }
    ])
  })

  it("5.3 a non-leader drops proposals, naming the leader it knows", () => {
    const f = follower(2, 1, 1)
    expect(stepOk(f, propose(9, [A], 10)).commands).toEqual([
      { _tag: "ProposalDropped", id: 9, reason: "NotLeader", leader: 1 }
    ])
  })
})

describe("5.3 log replication (follower)", () => {
  it("5.3 follower appends new entries durably and acknowledges them after the write", () => {
    const f = follower(2, 1, 1, { log: [1] })
    const { state, commands } = stepOk(
      f,
      recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [cmd(A), cmd(B)] }), 100)
    )
    expect(commands).toEqual([
      persist(1, undefined, { from: 2, entries: [cmd(A), cmd(B)] }),
      send(1, appendOk(1, 3), 1),
      setTimer(100 + 1000)
    ])
    expect(termsOf(state)).toEqual([1, 1, 1])
    expect(state.durableIndex).toBe(1)
    expect(stepOk(state, persisted(1, 110)).state.durableIndex).toBe(3)
  })

  it("5.3 follower learns the commit index from the leader and applies committed entries in order", () => {
    const f = follower(2, 1, 1, { log: [1, 1, 1] })
    const { state, commands } = stepOk(
      f,
      recv(1, append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 2 }), 100)
    )
    expect(commands).toEqual([
      { _tag: "Apply", firstIndex: 1, entries: entries([1, 1]) },
      send(1, appendOk(1, 3)),
      setTimer(100 + 1000)
    ])
    expect(state).toMatchObject({ commitIndex: 2, appliedIndex: 2 })
  })

  it("5.3 follower commits only up to the last entry the message verified: min(leaderCommit, last new)", () => {
    // Entries 3..5 may be stale leftovers: this message only vouches for index 2.
    const f = follower(2, 1, 1, { log: [1, 1, 1, 1, 1] })
    const { state } = stepOk(
      f,
      recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1, 2)], leaderCommit: 5 }))
    )
    expect(state.commitIndex).toBe(2)
  })

  it("5.3 follower rejects on consistency check failure and reports the conflict hint (dissertation 3.5)", () => {
    // Log too short: no term at prevLogIndex; the hint is where its log ends.
    const short = follower(2, 1, 2, { log: [1, 1] })
    const r1 = stepOk(
      short,
      recv(1, append({ term: 2, prevLogIndex: 5, prevLogTerm: 2, entries: [entry(2, 6)] }), 100)
    )
    expect(r1.commands).toEqual([send(1, appendReject(2, 5, 0, 3)), setTimer(100 + 1000)])
    expect(termsOf(r1.state)).toEqual([1, 1])
    // A different term at prevLogIndex: that term and the first index it holds for it.
    const diverged = follower(2, 1, 3, { log: [1, 1, 2, 2, 2] })
    const r2 = stepOk(diverged, recv(1, append({ term: 3, prevLogIndex: 4, prevLogTerm: 3 }), 100))
    expect(r2.commands).toEqual([send(1, appendReject(3, 4, 2, 3)), setTimer(100 + 1000)])
    expect(termsOf(r2.state)).toEqual([1, 1, 2, 2, 2])
  })

  it("5.3 follower truncates a conflicting suffix and appends the leader's entries", () => {
    const f = follower(2, 1, 3, { log: [1, 1, 2, 2] })
    const { state, commands } = stepOk(
      f,
      recv(1, append({ term: 3, prevLogIndex: 2, prevLogTerm: 1, entries: [entry(1, 3), entry(3, 4)] }), 100)
    )
    // Index 3 (term 1) conflicts with the follower's term 2: everything from 3 is replaced.
    expect(commands).toEqual([
      persist(1, undefined, { from: 3, entries: [entry(1, 3), entry(3, 4)] }),
      send(1, appendOk(3, 4), 1),
      setTimer(100 + 1000)
    ])
    expect(termsOf(state)).toEqual([1, 1, 1, 3])
  })

  it("5.3 follower keeps its entries when an append only repeats what it holds (a delayed message)", () => {
    const f = follower(2, 1, 1, { log: [1, 1, 1, 1] })
    const { state, commands } = stepOk(
      f,
      recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1, 2)] }), 100)
    )
    expect(commands).toEqual([send(1, appendOk(1, 2)), setTimer(100 + 1000)])
    expect(termsOf(state)).toEqual([1, 1, 1, 1])
  })

  it("5.3 an append below the follower's commit index is acknowledged at the commit index", () => {
    const f = stepOk(
      follower(2, 1, 1, { log: [1, 1, 1] }),
      recv(1, append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 3 }), 10)
    ).state
    expect(f.commitIndex).toBe(3)
    const { commands } = stepOk(
      f,
      recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1, 2)] }), 20)
    )
    expect(only(commands, "Send")).toEqual([send(1, appendOk(1, 3))])
  })
})

describe("5.3 Figure 7: a new leader brings every follower's log in line with its own", () => {
  /** Paper Figure 7: the leader's log (term 8 leader) and followers (a)-(f), by entry terms. */
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const followers: Record<string, { log: number[]; roundTrips: number }> = {
    // Round trips fast backtracking needs (dissertation 3.5), one AppendEntries each:
    a: { log: [1, 1, 1, 4, 4, 5, 5, 6, 6], roundTrips: 2 }, // missing 10: hint "my log ends at 9"
    b: { log: [1, 1, 1, 4], roundTrips: 2 }, // missing 5..10: hint "my log ends at 4"
    c: { log: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], roundTrips: 1 }, // extra 11: replaced by the no-op
    d: { log: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], roundTrips: 1 }, // extra 11, 12 of term 7
    e: { log: [1, 1, 1, 4, 4, 4, 4], roundTrips: 3 }, // end at 7, then term 4 skipped to 5
    f: { log: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], roundTrips: 3 } // term 3 skipped, then term 2
  }
  const names = Object.keys(followers)

  it("5.3 Figure 7 (a)-(f): logs converge to the leader's, with fast backtracking's round trips", () => {
    const members = [1, 2, 3, 4, 5, 6, 7]
    const ids = new Map(names.map((n, k) => [n, k + 2]))
    const net = new Net([
      boot(1, { members, term: 7, log: leaderLog }),
      ...names.map((n) => {
        const log = followers[n]!.log
        return boot(ids.get(n)!, { members, term: log[log.length - 1]!, log })
      })
    ])
    // The leader wins term 8 with the votes of (a), (b), (e), (f): (c) and (d) have longer logs.
    net.tick(1)
    net.settle()
    expect(net.get(1)).toMatchObject({ role: "leader", term: 8 })
    const expected = [...leaderLog, 8]
    expect(termsOf(net.get(1))).toEqual(expected)
    for (const n of names) {
      const id = ids.get(n)!
      expect(termsOf(net.get(id)), `follower (${n})`).toEqual(expected)
      // AppendEntries the follower received from the leader (no heartbeat was due meanwhile).
      const received = net.log
        .get(1)!
        .filter((c) => c._tag === "Send" && c.to === id && c.message._tag === "AppendEntries")
      expect(received.length, `round trips for (${n})`).toBe(followers[n]!.roundTrips)
    }
    // A majority holds the no-op of term 8: the leader committed everything.
    expect(net.get(1).commitIndex).toBe(11)
  })
})

describe("5.4.2 committing entries from previous terms (Figure 8)", () => {
  const members = [1, 2, 3, 4, 5]
  /**
   * Figure 8 (c): S1 leads term 4 with its term-2 entry at index 2, which S2 also holds; S5 holds
   * a term-3 entry there. S1 replicates index 2 to S3, so S1, S2 and S3 - a majority - hold it.
   * S1 sends one entry per message so index 2 reaches S3 without the no-op of term 4 behind it.
   */
  const figure8c = (): Net => {
    const net = new Net([
      boot(1, { members, term: 3, log: [1, 2], config: { maxEntriesPerMessage: 1 } }),
      boot(2, { members, term: 3, log: [1, 2] }),
      boot(3, { members, term: 3, log: [1] }),
      boot(4, { members, term: 3, log: [1] }),
      boot(5, { members, term: 3, log: [1, 3] })
    ])
    net.isolate(5) // S5 is down
    net.tick(1)
    net.until(() => net.get(1).role === "leader") // pre-votes, votes: S1 leads term 4
    expect(net.get(1)).toMatchObject({ term: 4 })
    expect(termsOf(net.get(1))).toEqual([1, 2, 4]) // with its no-op at index 3
    net.cut(1, 4) // S4 hears nothing more
    // S3 rejects the first probe (it lacks index 2), accepts index 2 alone, and acknowledges it.
    net.until(() => net.get(1).progress.get(3)!.match >= 2)
    net.drop(between(1, 3)) // the no-op of term 4 that followed never reaches S3
    net.persistAll()
    return net
  }

  it("5.4.2 leader does not commit an entry of a previous term by counting replicas (Figure 8 c)", () => {
    const net = figure8c()
    const s1 = net.get(1)
    // Index 2 (term 2) is on S1, S2 and S3, and S1 knows it.
    for (const id of [1, 2, 3]) expect(Log.termAt(net.get(id).log, 2)).toBe(2)
    expect(s1.progress.get(2)!.match).toBe(3)
    expect(s1.progress.get(3)!.match).toBe(2)
    // Yet it is not committed: it is not of the leader's term.
    expect(s1.commitIndex).toBe(0)
    expect(only(net.log.get(1)!, "Apply")).toEqual([])
  })

  it("5.4.2 ... because S5 can still be elected and overwrite it (Figure 8 d)", () => {
    const net = figure8c()
    const contact = net.now
    net.heal()
    net.isolate(1) // S1 crashes
    // S5's first pre-vote (for term 4) is refused: S3 and S4 voted for S1 in term 4; S5 learns term 4.
    net.tick(5, contact + 1000)
    net.settle()
    expect(net.get(5)).toMatchObject({ role: "follower", term: 4 })
    // Its next attempt wins with S3 and S4 (its last term 3 beats their 2 and 1).
    net.tick(5, contact + 3000)
    net.settle()
    expect(net.get(5)).toMatchObject({ role: "leader", term: 5 })
    // The term-2 entry once held by a majority is gone everywhere it was.
    for (const id of [2, 3, 4, 5]) expect(termsOf(net.get(id)), `S${id}`).toEqual([1, 3, 5])
    expect(net.get(5).commitIndex).toBe(3)
  })

  it("5.4.2 once an entry of the leader's term is on a majority, it and everything before it commit (Figure 8 e)", () => {
    const net = figure8c()
    const s1 = net.get(1)
    // S3 acknowledges the no-op of term 4 (index 3).
    const { state, commands } = stepOk(s1, recv(3, appendOk(4, 3), net.now))
    expect(commands).toEqual([{ _tag: "Apply", firstIndex: 1, entries: [entry(1, 1), entry(2, 2), noop(4)] }])
    expect(state.commitIndex).toBe(3)
    // S5 can no longer win: S3's last term (4) is newer than S5's (3).
    const s3 = stepOk(
      net.get(3),
      recv(1, append({ term: 4, prevLogIndex: 2, prevLogTerm: 2, entries: [noop(4)] }), net.now)
    ).state
    expect(termsOf(s3)).toEqual([1, 2, 4])
    const refusal = stepOk(s3, recv(5, voteReq(5, 2, 3), net.now + 5000)).commands
    expect(only(refusal, "Send").map((c) => c.message)).toEqual([voteResp(5, false)])
    // The refusal carries term 5: it leaves only once that term is durable.
    expect(only(refusal, "Send")[0]!.afterWrite).toBe(only(refusal, "Persist")[0]!.writeId)
  })
})

describe("10.2.1 durability ordering", () => {
  it("10.2.1 a vote reply and an append ack carry afterWrite = the writeId of the Persist that made them true", () => {
    const vote = stepOk(boot(2, { term: 1, config: { preVote: false } }), recv(1, voteReq(2, 0, 0), 10))
    const vp = only(vote.commands, "Persist")
    expect(vp).toEqual([persist(1, { term: 2, vote: 1 })])
    expect(only(vote.commands, "Send")).toEqual([send(1, voteResp(2, true), vp[0]!.writeId)])
    const ack = stepOk(
      follower(2, 1, 1),
      recv(1, append({ term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 1)] }), 10)
    )
    const ap = only(ack.commands, "Persist")
    expect(ap).toEqual([persist(1, undefined, { from: 1, entries: [entry(1, 1)] })])
    expect(only(ack.commands, "Send")).toEqual([send(1, appendOk(1, 1), ap[0]!.writeId)])
  })

  it("10.2.1 an ack that writes nothing still waits for the follower's writes in flight", () => {
    const f = stepOk(
      follower(2, 1, 1),
      recv(1, append({ term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 1)] }), 10)
    ).state
    // A heartbeat arrives before write 1 is durable: its ack covers index 1, so it waits too.
    const hb = stepOk(f, recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1 }), 20))
    expect(only(hb.commands, "Send")).toEqual([send(1, appendOk(1, 1), 1)])
    // Once durable, acks leave at once.
    const durable = stepOk(f, persisted(1, 15)).state
    expect(
      only(
        stepOk(durable, recv(1, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1 }), 20)).commands,
        "Send"
      )
    ).toEqual([send(1, appendOk(1, 1))])
  })

  it("10.2.1 a leader sends before its own write is durable but counts itself toward commit only after Persisted", () => {
    const { state: leader, commands } = stepOk(steadyLeader(), propose(7, [A], 1050))
    // The AppendEntries left with no afterWrite, before write 3 is durable.
    expect(only(commands, "Send").every((c) => c.afterWrite === undefined)).toBe(true)
    // One follower acks: with the leader's own copy that would be 2 of 3 - but that copy is not durable.
    const acked = stepOk(leader, recv(2, appendOk(1, 2), 1060))
    expect(acked.commands).toEqual([])
    expect(acked.state.commitIndex).toBe(1)
    // Its write becomes durable: now it counts.
    const done = stepOk(acked.state, persisted(3, 1070))
    expect(done.commands).toEqual([{ _tag: "Apply", firstIndex: 2, entries: [cmd(A)] }])
    expect(done.state.commitIndex).toBe(2)
  })

  it("10.2.1 ... while a majority of durable followers commits without the leader's own write", () => {
    const { state: leader } = stepOk(steadyLeader(), propose(7, [A], 1050))
    const r = stepAll(leader, [recv(2, appendOk(1, 2), 1060), recv(3, appendOk(1, 2), 1060)])
    expect(r.state.commitIndex).toBe(2)
  })
})

describe("10.2.2 flow control: probe and replicate modes", () => {
  it("10.2.2 probe mode: one AppendEntries at a time until the follower answers", () => {
    const leader = elect(1) // probing both followers with the no-op
    const { commands } = stepOk(leader, propose(7, [A], 1010))
    expect(only(commands, "Send")).toEqual([])
    // Follower 2 answers: it switches to replicate and gets what it lacks.
    // (With the leader's own durable copy, index 1 is now on a majority: committed first.)
    const r = stepOk(stepOk(leader, propose(7, [A], 1010)).state, recv(2, appendOk(1, 1), 1020))
    expect(only(r.commands, "Send")).toEqual([
      send(2, append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [cmd(A)], leaderCommit: 1 }))
    ])
    expect(r.state.progress.get(2)).toMatchObject({ mode: "replicate", match: 1, next: 3 })
  })

  it("10.2.2 a lost probe is resent after a heartbeat", () => {
    const leader = elect(1) // its no-op probes were lost
    const hb = stepOk(leader, tick(1000 + HEARTBEAT))
    const heartbeat = append({ term: 1, prevLogIndex: 0, prevLogTerm: 0 })
    expect(hb.commands).toEqual([send(2, heartbeat), send(3, heartbeat), setTimer(1000 + 2 * HEARTBEAT)])
    const r = stepOk(hb.state, recv(2, appendOk(1, 0), 1110))
    expect(r.commands).toEqual([
      send(2, append({ term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [noop(1)] }))
    ])
  })

  it("10.2.2 replicate mode sends up to maxInflightMessages without waiting, then stops", () => {
    const leader = steadyLeader({ maxInflightMessages: 2 })
    const r = stepAll(leader, [propose(1, [A], 1010), propose(2, [B], 1020), propose(3, [A], 1030)])
    const sends = only(r.commands, "Send")
    expect(sends.map((c) => [c.to, c.message._tag === "AppendEntries" && c.message.prevLogIndex])).toEqual([
      [2, 1],
      [3, 1],
      [2, 2],
      [3, 2]
    ])
    expect(r.state.progress.get(2)).toMatchObject({ next: 4, inflight: [{ lastIndex: 2 }, { lastIndex: 3 }] })
    // An acknowledgement frees a slot: the waiting entry goes out at once.
    const ack = stepOk(r.state, recv(2, appendOk(1, 2), 1040))
    expect(only(ack.commands, "Send")).toEqual([
      send(2, append({ term: 1, prevLogIndex: 3, prevLogTerm: 1, entries: [cmd(A)], leaderCommit: 1 }))
    ])
  })

  it("10.2.2 a proposal batch larger than one message streams as several, up to the window", () => {
    const leader = steadyLeader({ maxEntriesPerMessage: 2, maxInflightMessages: 2 })
    const { state, commands } = stepOk(leader, propose(1, [A, B, A, B, A], 1010))
    const toTwo = only(commands, "Send").filter((c) => c.to === 2)
    // Entries 2..6: two messages of two fill the window; the fifth entry waits for an ack.
    expect(
      toTwo.map(
        (c) => c.message._tag === "AppendEntries" && [c.message.prevLogIndex, c.message.entries.length]
      )
    ).toEqual([
      [1, 2],
      [3, 2]
    ])
    expect(state.progress.get(2)).toMatchObject({ next: 6, inflight: [{ lastIndex: 3 }, { lastIndex: 5 }] })
  })

  it("10.2.2 replicate mode also bounds the bytes in flight", () => {
    const big = new Uint8Array(50) // 66 bytes each with the per-entry overhead
    const leader = steadyLeader({ maxInflightBytes: 100 })
    const r = stepAll(leader, [propose(1, [big], 1010), propose(2, [big], 1020), propose(3, [big], 1030)])
    expect(only(r.commands, "Send").filter((c) => c.to === 2)).toHaveLength(2)
    expect(r.state.progress.get(2)!.inflightBytes).toBe(132)
  })

  it("10.2.2 a rejection in replicate mode falls back to probing from the follower's hint", () => {
    const leader = stepAll(steadyLeader(), [propose(1, [A], 1010), propose(2, [B], 1020)]).state
    // The follower lost entry 2: it rejects the append at 2 and says its log ends at 1.
    const { state, commands } = stepOk(leader, recv(2, appendReject(1, 2, 0, 2), 1030))
    expect(state.progress.get(2)).toMatchObject({ mode: "probe", match: 1, next: 2, probeSent: true })
    expect(only(commands, "Send")).toEqual([
      send(
        2,
        append({ term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [cmd(A), cmd(B)], leaderCommit: 1 })
      )
    ])
  })

  it("10.2.2 a replicating follower whose appends were all lost is repaired after a heartbeat", () => {
    const net = new Net([boot(1), boot(2), boot(3)])
    net.tick(1)
    net.settle()
    net.step(1, propose(1, [A], net.now))
    expect(net.drop(ofTag("AppendEntries"))).toBe(2)
    net.persistAll()
    net.tick(1) // heartbeat round: answered, then the leader checks for a gap
    net.settle()
    for (const id of [1, 2, 3]) expect(termsOf(net.get(id))).toEqual([1, 1])
    expect(net.get(1).commitIndex).toBe(2)
  })

  it("10.2.2 the check for lost appends goes out at most once per heartbeat interval per follower", () => {
    // Entry 2 is in flight to both followers; answers that teach nothing keep arriving.
    const inFlight = stepOk(steadyLeader(), propose(1, [A], 1010)).state
    const stale = appendOk(1, 1)
    const first = stepOk(inFlight, recv(2, stale, 1020))
    const gapChecks = (cs: ReadonlyArray<Command>) =>
      only(cs, "Send").filter((c) => c.message._tag === "AppendEntries" && c.message.entries.length === 0)
    expect(
      gapChecks(first.commands).map((c) => [
        c.to,
        c.message._tag === "AppendEntries" && c.message.prevLogIndex
      ])
    ).toEqual([[2, 2]])
    // Answers within the next heartbeat interval (e.g. to that very check) send none...
    const again = stepOk(first.state, recv(2, stale, 1020 + 50))
    expect(gapChecks(again.commands)).toEqual([])
    // ...one heartbeat interval later the check may go out again.
    const later = stepOk(again.state, recv(2, stale, 1020 + 100))
    expect(gapChecks(later.commands)).toHaveLength(1)
  })

  it("10.2.2 AppendEntries respect maxEntriesPerMessage and maxBytesPerMessage", () => {
    const byCount = stepOk(steadyLeader({ maxEntriesPerMessage: 2 }), propose(1, [A, B, A], 1010))
    const s1 = only(byCount.commands, "Send")[0]!.message
    expect(s1._tag === "AppendEntries" && s1.entries.length).toBe(2)
    const byBytes = stepOk(steadyLeader({ maxBytesPerMessage: 40 }), propose(1, [A, B, A], 1010))
    const s2 = only(byBytes.commands, "Send")[0]!.message
    expect(s2._tag === "AppendEntries" && s2.entries.length).toBe(2) // 17 bytes each
  })
})
