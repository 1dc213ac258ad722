/**
 * fast-check arbitraries for every peer message kind, typed as the core's own types (written by
 * hand rather than derived from the wire schemas, so the codec is checked against the core's
 * vocabulary, not against itself).
 */
import fc from "fast-check"
import type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  Envelope,
  InstallSnapshot,
  InstallSnapshotResponse,
  Message,
  ReadIndexRequest,
  ReadIndexResponse,
  RequestVote,
  RequestVoteResponse,
  SnapshotMeta,
  TimeoutNow
} from "../../src/core/types.ts"

/** Indices and terms, biased to the edges: 0, small, and up to 2^53 - 1. */
export const index: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.nat(1000),
  fc.nat(),
  fc.constant(Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
)

export const nodeId: fc.Arbitrary<number> = fc.integer({ min: 1, max: 0x7fff_ffff })

const bytes = (maxLength: number) => fc.uint8Array({ maxLength })

export const entry: fc.Arbitrary<Entry> = fc.record({
  term: index,
  kind: fc.constantFrom("noop" as const, "command" as const),
  data: bytes(300)
})

const snapshotMeta: fc.Arbitrary<SnapshotMeta> = fc.record({ term: index, index, size: index })

const requestVote: fc.Arbitrary<RequestVote> = fc.record({
  _tag: fc.constant("RequestVote" as const),
  term: index,
  lastLogIndex: index,
  lastLogTerm: index,
  preVote: fc.boolean(),
  transfer: fc.boolean()
})

const requestVoteResponse: fc.Arbitrary<RequestVoteResponse> = fc.record({
  _tag: fc.constant("RequestVoteResponse" as const),
  term: index,
  granted: fc.boolean(),
  preVote: fc.boolean()
})

const appendEntries: fc.Arbitrary<AppendEntries> = fc.record({
  _tag: fc.constant("AppendEntries" as const),
  term: index,
  prevLogIndex: index,
  prevLogTerm: index,
  entries: fc.array(entry, { maxLength: 20 }),
  leaderCommit: index,
  round: index
})

const appendEntriesResponse: fc.Arbitrary<AppendEntriesResponse> = fc.record({
  _tag: fc.constant("AppendEntriesResponse" as const),
  term: index,
  success: fc.boolean(),
  index,
  conflictTerm: index,
  conflictIndex: index,
  round: index
})

const installSnapshot: fc.Arbitrary<InstallSnapshot> = fc.record({
  _tag: fc.constant("InstallSnapshot" as const),
  term: index,
  snapshot: snapshotMeta,
  offset: index,
  data: bytes(2000),
  done: fc.boolean()
})

const installSnapshotResponse: fc.Arbitrary<InstallSnapshotResponse> = fc.record({
  _tag: fc.constant("InstallSnapshotResponse" as const),
  term: index,
  snapshotIndex: index,
  nextOffset: index,
  done: fc.boolean()
})

const timeoutNow: fc.Arbitrary<TimeoutNow> = fc.record({
  _tag: fc.constant("TimeoutNow" as const),
  term: index
})

const readIndexRequest: fc.Arbitrary<ReadIndexRequest> = fc.record({
  _tag: fc.constant("ReadIndexRequest" as const),
  term: index,
  ids: fc.array(index, { maxLength: 20 })
})

const readIndexResponse: fc.Arbitrary<ReadIndexResponse> = fc.record({
  _tag: fc.constant("ReadIndexResponse" as const),
  term: index,
  ids: fc.array(index, { maxLength: 20 }),
  index
})

/** One arbitrary per message kind, keyed by tag (so a test can cover each kind explicitly). */
export const messageByTag: { readonly [K in Message["_tag"]]: fc.Arbitrary<Extract<Message, { _tag: K }>> } =
  {
    RequestVote: requestVote,
    RequestVoteResponse: requestVoteResponse,
    AppendEntries: appendEntries,
    AppendEntriesResponse: appendEntriesResponse,
    InstallSnapshot: installSnapshot,
    InstallSnapshotResponse: installSnapshotResponse,
    TimeoutNow: timeoutNow,
    ReadIndexRequest: readIndexRequest,
    ReadIndexResponse: readIndexResponse
  }

export const message: fc.Arbitrary<Message> = fc.oneof(...Object.values(messageByTag))

export const envelope: fc.Arbitrary<Envelope> = fc.record({ from: nodeId, to: nodeId, message })

export const clusterId: fc.Arbitrary<string> = fc.string({ minLength: 1, maxLength: 40 })
