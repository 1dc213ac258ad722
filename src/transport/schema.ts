/**
 * Schemas for everything that crosses the wire between peers: the Raft messages of
 * `src/core/types.ts` and the frame header that carries them.
 *
 * These schemas specify the validation boundary. The frame codec (`codec.ts`, a hand-written
 * layout for speed) decodes only values they accept - its tests check every decoded frame with
 * `Schema.is(WireFrame)` - so a value that comes out satisfies the core's types exactly (integers
 * where the core expects indices and terms, `Uint8Array` for data, known tags and literals), and
 * a hostile value (an unsafe index, node id 0, an unknown tag) is rejected before the core sees it.
 */
import { Schema } from "effect"
import type * as Core from "../core/types.ts"
import { EntryArray } from "./entries.ts"
import { ClusterId, Index, NodeId } from "./schema-primitives.ts"

export { ClusterId, Index, NodeId } from "./schema-primitives.ts"
export { EntryArray } from "./entries.ts"

/** One log entry as a standalone value (entries inside AppendEntries travel as {@link Entries}). */
export const Entry = Schema.Struct({
  term: Index,
  kind: Schema.Literals(["noop", "command"]),
  data: Schema.Uint8Array
})

export const SnapshotMeta = Schema.Struct({
  index: Index,
  term: Index,
  size: Index
})

export const RequestVote = Schema.TaggedStruct("RequestVote", {
  term: Index,
  lastLogIndex: Index,
  lastLogTerm: Index,
  preVote: Schema.Boolean,
  transfer: Schema.Boolean
})

export const RequestVoteResponse = Schema.TaggedStruct("RequestVoteResponse", {
  term: Index,
  granted: Schema.Boolean,
  preVote: Schema.Boolean
})

export const AppendEntries = Schema.TaggedStruct("AppendEntries", {
  term: Index,
  prevLogIndex: Index,
  prevLogTerm: Index,
  entries: EntryArray,
  leaderCommit: Index,
  round: Index
})

export const AppendEntriesResponse = Schema.TaggedStruct("AppendEntriesResponse", {
  term: Index,
  success: Schema.Boolean,
  index: Index,
  conflictTerm: Index,
  conflictIndex: Index,
  round: Index
})

export const InstallSnapshot = Schema.TaggedStruct("InstallSnapshot", {
  term: Index,
  snapshot: SnapshotMeta,
  offset: Index,
  data: Schema.Uint8Array,
  done: Schema.Boolean
})

export const InstallSnapshotResponse = Schema.TaggedStruct("InstallSnapshotResponse", {
  term: Index,
  snapshotIndex: Index,
  nextOffset: Index,
  done: Schema.Boolean
})

export const TimeoutNow = Schema.TaggedStruct("TimeoutNow", {
  term: Index
})

export const ReadIndexRequest = Schema.TaggedStruct("ReadIndexRequest", {
  term: Index,
  ids: Schema.Array(Index)
})

export const ReadIndexResponse = Schema.TaggedStruct("ReadIndexResponse", {
  term: Index,
  ids: Schema.Array(Index),
  index: Index
})

/** Every peer message of the core. */
export const Message = Schema.Union([
  RequestVote,
  RequestVoteResponse,
  AppendEntries,
  AppendEntriesResponse,
  InstallSnapshot,
  InstallSnapshotResponse,
  TimeoutNow,
  ReadIndexRequest,
  ReadIndexResponse
])

/**
 * The body of one frame after the format-version byte: who sent it to whom, in which cluster, and
 * the message. The cluster id travels in every frame so that a node wired to the wrong cluster is
 * refused on its first frame.
 */
export const WireFrame = Schema.Struct({
  clusterId: ClusterId,
  from: NodeId,
  to: NodeId,
  message: Message
})

export type WireFrame = typeof WireFrame.Type

// ---------------------------------------------------------------------------------------------
// Compile-time proof that the schemas describe exactly the core's types (both directions).
// ---------------------------------------------------------------------------------------------

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const same = <_ extends true>(): void => {}

same<Same<typeof Entry.Type, Core.Entry>>()
same<Same<typeof SnapshotMeta.Type, Core.SnapshotMeta>>()
same<Same<typeof Message.Type, Core.Message>>()
same<Same<typeof RequestVote.Type, Core.RequestVote>>()
same<Same<typeof AppendEntries.Type, Core.AppendEntries>>()
same<Same<typeof InstallSnapshot.Type, Core.InstallSnapshot>>()
same<Same<typeof ReadIndexResponse.Type, Core.ReadIndexResponse>>()
