import { describe, expect, it } from "vitest"
import {
  type Command,
  type InstallSnapshot,
  initial,
  Log,
  type Message,
  type RaftState,
  type SnapshotMeta
} from "../../src/core/index.ts"
import {
  append,
  appendOk,
  appendReject,
  config,
  elect,
  entries,
  follower,
  HEARTBEAT,
  noop,
  only,
  persist,
  persisted,
  recv,
  send,
  snapshotTaken,
  stepAll,
  stepOk,
  termsOf,
  tick
} from "./helpers.ts"

/** Chunks of 10 bytes: a snapshot of 25 bytes travels as 10 + 10 + 5. */
const CHUNK = 10
const small = { snapshotChunkBytes: CHUNK }

/**
 * Leader 1 of {1,2,3} in term 2 whose log held five term-1 entries and its no-op (index 6), all
 * committed with follower 2 and applied; then snapshotted at 6 (25 bytes) and compacted. Follower
 * 3 never answered: it is still being probed at index 6.
 */
const compactedLeader = (): { leader: RaftState; meta: SnapshotMeta } => {
  let leader = elect(1, { term: 1, log: [1, 1, 1, 1, 1], config: small })
  leader = stepOk(leader, recv(2, appendOk(2, 6), 1000)).state
  expect(leader).toMatchObject({ commitIndex: 6, appliedIndex: 6 })
  const { state, commands } = stepOk(leader, snapshotTaken(6, 25, 1000))
  expect(commands).toEqual([{ _tag: "CompactLog", upTo: 6 }])
  const meta = { index: 6, term: 2, size: 25 }
  expect(state.snapshot).toEqual(meta)
  return { leader: state, meta }
}

const chunkCmd = (meta: SnapshotMeta, offset: number, to = 3, term = 2): Command => ({
  _tag: "SendSnapshotChunk",
  to,
  term,
  snapshot: meta,
  offset,
  length: Math.min(CHUNK, meta.size - offset),
  done: offset + CHUNK >= meta.size
})

const chunk = (meta: SnapshotMeta, offset: number, term = 2): InstallSnapshot => {
  const length = Math.min(CHUNK, meta.size - offset)
  return {
    _tag: "InstallSnapshot",
    term,
    snapshot: meta,
    offset,
    data: new Uint8Array(length).fill(offset),
    done: offset + length >= meta.size
  }
}

const snapResp = (term: number, snapshotIndex: number, nextOffset: number, done: boolean): Message => ({
  _tag: "InstallSnapshotResponse",
  term,
  snapshotIndex,
  nextOffset,
  done
})

describe("7 log compaction", () => {
  it("7 a snapshot of applied state compacts the log up to it (CompactLog); later entries stay", () => {
    const { leader } = compactedLeader()
    expect(leader.log.prevIndex).toBe(6)
    expect(Log.lastIndex(leader.log)).toBe(6)
    expect(Log.termAt(leader.log, 6)).toBe(2)
    expect(Log.termAt(leader.log, 5)).toBeUndefined()
    // A follower snapshotting below its last entry keeps the entries after it.
    const f = stepOk(
      follower(2, 1, 1, { log: [1, 1, 1, 1] }),
      recv(1, append({ term: 1, prevLogIndex: 4, prevLogTerm: 1, leaderCommit: 3 }))
    ).state
    const { state, commands } = stepOk(f, snapshotTaken(2, 7))
    expect(commands).toEqual([{ _tag: "CompactLog", upTo: 2 }])
    expect(state.snapshot).toEqual({ index: 2, term: 1, size: 7 })
    expect(termsOf(state)).toEqual([1, 1])
    expect(state.log.prevIndex).toBe(2)
  })

  it("7 compaction never discards unapplied entries: a snapshot beyond the applied index is refused", () => {
    const f = stepOk(
      follower(2, 1, 1, { log: [1, 1, 1, 1] }),
      recv(1, append({ term: 1, prevLogIndex: 4, prevLogTerm: 1, leaderCommit: 2 }))
    ).state
    expect(f.appliedIndex).toBe(2)
    // The state machine cannot have a snapshot of what it was never given: a defect, not an input.
    expect(() => stepOk(f, snapshotTaken(3, 7))).toThrow(/beyond applied/)
  })

  it("7 a snapshot no newer than the current one changes nothing", () => {
    const { leader } = compactedLeader()
    expect(stepOk(leader, snapshotTaken(6, 99, 1000)).commands).toEqual([])
    expect(stepOk(leader, snapshotTaken(4, 99, 1000)).commands).toEqual([])
  })

  it("7 a restart from a snapshot plus the log after it restores that state", () => {
    const meta = { index: 6, term: 2, size: 25 }
    const r = initial(
      config(2),
      { hardState: { term: 3, vote: 1 }, snapshot: meta, entries: entries([2, 3], 7) },
      0,
      0
    )
    expect(r.commands).toEqual([
      { _tag: "RestoreSnapshot", snapshot: meta, afterWrite: undefined },
      { _tag: "SetTimer", at: 1000 }
    ])
    expect(r.state).toMatchObject({ term: 3, vote: 1, snapshot: meta, commitIndex: 6, appliedIndex: 6 })
    expect(r.state.log.prevIndex).toBe(6)
    expect(termsOf(r.state)).toEqual([2, 3])
    expect(r.state.durableIndex).toBe(8)
  })
})

describe("7 InstallSnapshot (leader)", () => {
  /** The leader learns that follower 3's log is empty: it needs entries compacted away. */
  const transferStarted = () => {
    const { leader, meta } = compactedLeader()
    return { meta, ...stepOk(leader, recv(3, appendReject(2, 5, 0, 1), 1010)) }
  }

  it("7 a follower that needs compacted entries is sent the snapshot, one chunk at a time", () => {
    const { state, commands, meta } = transferStarted()
    expect(commands).toEqual([chunkCmd(meta, 0)])
    expect(state.progress.get(3)).toMatchObject({
      mode: "snapshot",
      snapshot: { meta, acked: 0, sentAt: 1010 }
    })
    // Each acknowledgement brings the next chunk.
    const r = stepOk(state, recv(3, snapResp(2, 6, 10, false), 1020))
    expect(r.commands).toEqual([chunkCmd(meta, 10)])
    expect(stepOk(r.state, recv(3, snapResp(2, 6, 20, false), 1030)).commands).toEqual([chunkCmd(meta, 20)])
  })

  it("7 once the snapshot is installed, replication resumes after it", () => {
    const { state, meta } = transferStarted()
    const r = stepOk(state, recv(3, snapResp(2, meta.index, meta.size, true), 1020))
    expect(r.state.progress.get(3)).toMatchObject({ mode: "probe", match: 6, next: 7 })
    // Nothing after the snapshot yet: the probe is an empty append at the snapshot's end.
    expect(r.commands).toEqual([
      send(3, append({ term: 2, prevLogIndex: 6, prevLogTerm: 2, leaderCommit: 6 }))
    ])
  })

  it("7 a lost chunk (or its acknowledgement) is resent at the first heartbeat a full interval after it", () => {
    const { state, meta } = transferStarted()
    // The heartbeat at 1100 comes too early: the chunk sent at 1010 may still be on its way.
    const early = stepOk(state, tick(1000 + HEARTBEAT))
    expect(only(early.commands, "SendSnapshotChunk")).toEqual([])
    const late = stepOk(early.state, tick(1000 + 2 * HEARTBEAT))
    expect(only(late.commands, "SendSnapshotChunk")).toEqual([chunkCmd(meta, 0)])
    expect(late.state.progress.get(3)!.snapshot).toEqual({ meta, acked: 0, sentAt: 1200 })
  })

  it("7 a duplicated acknowledgement does not send the next chunk twice", () => {
    const { state, meta } = transferStarted()
    const once = stepOk(state, recv(3, snapResp(2, 6, 10, false), 1020))
    expect(once.commands).toEqual([chunkCmd(meta, 10)])
    // The same acknowledgement again (a duplicated chunk, or a duplicated reply): chunk 10 is
    // already on its way; sending it again would double the rest of the transfer.
    expect(stepOk(once.state, recv(3, snapResp(2, 6, 10, false), 1021)).commands).toEqual([])
  })

  it("7 a follower that lost its partial snapshot (a restart) makes the leader start over", () => {
    const { state, meta } = transferStarted()
    const at20 = stepAll(state, [
      recv(3, snapResp(2, 6, 10, false), 1020),
      recv(3, snapResp(2, 6, 20, false), 1030)
    ])
    const { commands } = stepOk(at20.state, recv(3, snapResp(2, 6, 0, false), 1040))
    expect(commands).toEqual([chunkCmd(meta, 0)])
  })

  it("7 a newer snapshot taken during a transfer restarts the transfer with it", () => {
    const { state } = transferStarted()
    // More entries committed and applied, then a new snapshot at 7.
    let s = stepOk(state, { _tag: "Propose", id: 1, data: [Uint8Array.of(1)], now: 1020, random: 0 }).state
    s = stepAll(s, [persisted(s.nextWriteId - 1, 1021), recv(2, appendOk(2, 7), 1022)]).state
    expect(s.appliedIndex).toBe(7)
    const { commands } = stepOk(s, snapshotTaken(7, 12, 1030))
    const meta = { index: 7, term: 2, size: 12 }
    expect(commands).toEqual([{ _tag: "CompactLog", upTo: 7 }, chunkCmd(meta, 0)])
  })
})

describe("7 InstallSnapshot (follower)", () => {
  const meta = { index: 6, term: 2, size: 25 }
  /** Follower 3 of leader 1 in term 2 with an empty log. */
  const empty = () => follower(3, 1, 2)

  it("7 chunks are written durably in order and each is acknowledged after its write", () => {
    const r = stepOk(empty(), recv(1, chunk(meta, 0), 100))
    const c0 = chunk(meta, 0)
    expect(r.commands).toEqual([
      {
        _tag: "PersistSnapshotChunk",
        writeId: 1,
        snapshot: meta,
        offset: 0,
        data: c0.data,
        done: false,
        keepLog: false
      },
      send(1, snapResp(2, 6, 10, false), 1),
      { _tag: "SetTimer", at: 100 + 1000 }
    ])
    expect(r.state.incomingSnapshot).toEqual({ meta, received: 10 })
  })

  it("7 the last chunk installs the snapshot: log replaced, state machine restored after the write", () => {
    const s = stepAll(empty(), [recv(1, chunk(meta, 0), 100), recv(1, chunk(meta, 10), 110)]).state
    const last = chunk(meta, 20)
    const { state, commands } = stepOk(s, recv(1, last, 120))
    expect(commands).toEqual([
      {
        _tag: "PersistSnapshotChunk",
        writeId: 3,
        snapshot: meta,
        offset: 20,
        data: last.data,
        done: true,
        keepLog: false
      },
      { _tag: "RestoreSnapshot", snapshot: meta, afterWrite: 3 },
      send(1, snapResp(2, 6, 25, true), 3),
      { _tag: "SetTimer", at: 120 + 1000 }
    ])
    expect(state).toMatchObject({
      snapshot: meta,
      commitIndex: 6,
      appliedIndex: 6,
      incomingSnapshot: undefined
    })
    expect(state.log.prevIndex).toBe(6)
    expect(Log.lastIndex(state.log)).toBe(6)
  })

  it("7 lost, duplicated and reordered chunks are answered with the offset expected, writing nothing", () => {
    const after0 = stepOk(empty(), recv(1, chunk(meta, 0), 100)).state
    // Chunk 10 was lost: chunk 20 arrives out of order.
    const ahead = stepOk(after0, recv(1, chunk(meta, 20), 110))
    expect(ahead.commands).toEqual([send(1, snapResp(2, 6, 10, false), 1), { _tag: "SetTimer", at: 1110 }])
    // Chunk 0 again (duplicated).
    const dup = stepOk(after0, recv(1, chunk(meta, 0), 110))
    expect(only(dup.commands, "PersistSnapshotChunk")).toEqual([])
    expect(only(dup.commands, "Send")).toEqual([send(1, snapResp(2, 6, 10, false), 1)])
    // A chunk in the middle of a snapshot we are not receiving: start from 0.
    expect(only(stepOk(empty(), recv(1, chunk(meta, 10), 100)).commands, "Send")).toEqual([
      send(1, snapResp(2, 6, 0, false))
    ])
    // The transfer then completes as usual.
    const done = stepAll(ahead.state, [recv(1, chunk(meta, 10), 120), recv(1, chunk(meta, 20), 130)]).state
    expect(done.snapshot).toEqual(meta)
  })

  it("7 a chunk that would overrun the announced size is refused", () => {
    const bad = { ...chunk(meta, 0), data: new Uint8Array(30) }
    const r = stepOk(empty(), recv(1, bad, 100))
    expect(only(r.commands, "PersistSnapshotChunk")).toEqual([])
    expect(only(r.commands, "Send")).toEqual([send(1, snapResp(2, 6, 0, false))])
  })

  it("7 a chunk of a newer snapshot at offset 0 restarts the transfer with it", () => {
    const s = stepOk(empty(), recv(1, chunk(meta, 0), 100)).state
    const newer = { index: 8, term: 2, size: 15 }
    const r = stepOk(s, recv(1, chunk(newer, 0), 110))
    expect(only(r.commands, "PersistSnapshotChunk").map((c) => [c.snapshot, c.offset])).toEqual([[newer, 0]])
    expect(r.state.incomingSnapshot).toEqual({ meta: newer, received: 10 })
  })

  it("7 a leader change abandons a partial transfer", () => {
    const s = stepOk(empty(), recv(1, chunk(meta, 0), 100)).state
    // A new leader (term 3) takes over; the old transfer's state is dropped.
    const moved = stepOk(s, recv(2, append({ term: 3, prevLogIndex: 0, prevLogTerm: 0 }), 110)).state
    expect(moved.incomingSnapshot).toBeUndefined()
    expect(only(stepOk(moved, recv(2, chunk(meta, 10, 3), 120)).commands, "Send")).toEqual([
      send(2, snapResp(3, 6, 0, false), 2)
    ])
  })

  it("7 a snapshot whose last entry the follower holds with the same term keeps the entries after it", () => {
    const f = follower(3, 1, 2, { log: [1, 1, 1, 1, 1, 2, 2, 2] })
    const small1 = { index: 6, term: 2, size: 5 }
    const one = { ...chunk(small1, 0), data: new Uint8Array(5), done: true }
    const { state, commands } = stepOk(f, recv(1, one, 100))
    expect(only(commands, "PersistSnapshotChunk")[0]).toMatchObject({ done: true, keepLog: true })
    expect(state.log.prevIndex).toBe(6)
    expect(termsOf(state)).toEqual([2, 2])
    expect(state).toMatchObject({ commitIndex: 6, appliedIndex: 6 })
  })

  it("7 a snapshot whose last entry conflicts with the follower's log replaces the whole log", () => {
    const f = follower(3, 1, 2, { log: [1, 1, 1, 1, 1, 1, 1, 1] })
    const s1 = { index: 6, term: 2, size: 5 }
    const one = { ...chunk(s1, 0), data: new Uint8Array(5), done: true }
    const { state, commands } = stepOk(f, recv(1, one, 100))
    expect(only(commands, "PersistSnapshotChunk")[0]).toMatchObject({ done: true, keepLog: false })
    expect(state.log.prevIndex).toBe(6)
    expect(termsOf(state)).toEqual([])
  })

  it("7 a snapshot older than what the follower has committed is acknowledged as done; the log stays", () => {
    const f = stepOk(
      follower(3, 1, 2, { log: [1, 1, 1, 1, 1, 2, 2, 2] }),
      recv(1, append({ term: 2, prevLogIndex: 8, prevLogTerm: 2, leaderCommit: 7 }), 50)
    ).state
    expect(f.commitIndex).toBe(7)
    const { state, commands } = stepOk(f, recv(1, chunk(meta, 0), 100))
    expect(commands).toEqual([send(1, snapResp(2, 6, 25, true)), { _tag: "SetTimer", at: 1100 }])
    expect(termsOf(state)).toEqual(termsOf(f))
    expect(state.snapshot).toBeUndefined()
  })

  it("7 after installing, the follower accepts appends that continue from the snapshot", () => {
    const installed = stepOk(
      empty(),
      recv(1, { ...chunk(meta, 0), data: new Uint8Array(25), done: true }, 100)
    ).state
    const r = stepOk(
      installed,
      recv(1, append({ term: 2, prevLogIndex: 6, prevLogTerm: 2, entries: [noop(2)], leaderCommit: 7 }), 110)
    )
    expect(only(r.commands, "Persist")).toEqual([persist(2, undefined, { from: 7, entries: [noop(2)] })])
    expect(only(r.commands, "Apply")).toEqual([{ _tag: "Apply", firstIndex: 7, entries: [noop(2)] }])
  })
})
