/**
 * The wire layout of each Raft message (format version 2): a tag byte, then the fields in a fixed
 * order, integers as varints (see `wire.ts`).
 *
 * ```
 * RequestVote             0 | term lastLogIndex lastLogTerm | preVote transfer
 * RequestVoteResponse     1 | term | granted preVote
 * AppendEntries           2 | term prevLogIndex prevLogTerm leaderCommit round | n
 *                           | n x (term kind size) | data of all n entries, back to back
 * AppendEntriesResponse   3 | term | success | index conflictTerm conflictIndex round
 * InstallSnapshot         4 | term index snapshotTerm size offset | done | data (length-prefixed)
 * InstallSnapshotResponse 5 | term snapshotIndex nextOffset | done
 * TimeoutNow              6 | term
 * ReadIndexRequest        7 | term | n | n x id
 * ReadIndexResponse       8 | term index | n | n x id
 * ```
 *
 * Entries put their data last, in one run: decoding copies it once and gives each entry a view
 * of that copy (one allocation per message, not per entry; V8 allocates every typed array above
 * 64 bytes off-heap). The reader checks every field as it goes (kinds, booleans, counts against
 * the bytes left, sizes against the data run), so a decoded message satisfies the core's types.
 */
import type { Entry, Message } from "../core/types.ts"
import { copyPooled } from "./byte-pool.ts"
import { type Reader, WireError, type Writer } from "./wire.ts"

const TAG = {
  RequestVote: 0,
  RequestVoteResponse: 1,
  AppendEntries: 2,
  AppendEntriesResponse: 3,
  InstallSnapshot: 4,
  InstallSnapshotResponse: 5,
  TimeoutNow: 6,
  ReadIndexRequest: 7,
  ReadIndexResponse: 8
} as const satisfies Record<Message["_tag"], number>

const KIND_NOOP = 0
const KIND_COMMAND = 1

/** Smallest encoded entry header (term, kind, size: one byte each). */
const MIN_ENTRY_HEADER_BYTES = 3

const writeEntries = (w: Writer, entries: ReadonlyArray<Entry>): void => {
  if (!Array.isArray(entries)) throw new WireError("entries must be an array")
  const n = entries.length
  w.uvarint(n, "entry count")
  for (let i = 0; i < n; i++) {
    const e = entries[i] as Entry | undefined
    if (typeof e !== "object" || e === null) throw new WireError(`entry ${i} is not an entry`)
    w.uvarint(e.term, "entry term")
    if (e.kind === "command") w.u8(KIND_COMMAND)
    else if (e.kind === "noop") w.u8(KIND_NOOP)
    else throw new WireError(`entry ${i} has kind ${String(e.kind)}`)
    if (!(e.data instanceof Uint8Array)) throw new WireError(`entry ${i} data must be a Uint8Array`)
    w.uvarint(e.data.length, "entry size")
  }
  for (let i = 0; i < n; i++) w.raw(entries[i]!.data)
}

const readEntries = (r: Reader): ReadonlyArray<Entry> => {
  const n = r.count("entry count", MIN_ENTRY_HEADER_BYTES)
  if (n === 0) return []
  const terms = new Array<number>(n)
  const commands = new Array<boolean>(n)
  const sizes = new Array<number>(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    terms[i] = r.uvarint("entry term")
    const kind = r.u8("entry kind")
    if (kind !== KIND_NOOP && kind !== KIND_COMMAND) throw new WireError(`entry kind ${kind}`)
    commands[i] = kind === KIND_COMMAND
    const size = r.uvarint("entry size")
    sizes[i] = size
    total += size
  }
  if (total !== r.remaining) {
    throw new WireError(`entry sizes add up to ${total} bytes, ${r.remaining} follow`)
  }
  // Log entries die in log order (compaction), so they may share pool slabs.
  const data = copyPooled(r.view(total, "entry data"))
  const out = new Array<Entry>(n)
  let offset = 0
  for (let i = 0; i < n; i++) {
    const size = sizes[i]!
    out[i] = {
      term: terms[i]!,
      kind: commands[i] ? "command" : "noop",
      data: data.subarray(offset, offset + size)
    }
    offset += size
  }
  return out
}

const writeIds = (w: Writer, ids: ReadonlyArray<number>): void => {
  if (!Array.isArray(ids)) throw new WireError("ids must be an array")
  w.uvarint(ids.length, "id count")
  for (const id of ids) w.uvarint(id, "read id")
}

const readIds = (r: Reader): ReadonlyArray<number> => {
  const n = r.count("id count", 1)
  const ids = new Array<number>(n)
  for (let i = 0; i < n; i++) ids[i] = r.uvarint("read id")
  return ids
}

/** Writes `m`'s tag and fields; a value the core could not have produced is a {@link WireError}. */
export const writeMessage = (w: Writer, m: Message): void => {
  switch (m._tag) {
    case "RequestVote":
      w.u8(TAG.RequestVote)
      w.uvarint(m.term, "term")
      w.uvarint(m.lastLogIndex, "lastLogIndex")
      w.uvarint(m.lastLogTerm, "lastLogTerm")
      w.bool(m.preVote, "preVote")
      w.bool(m.transfer, "transfer")
      return
    case "RequestVoteResponse":
      w.u8(TAG.RequestVoteResponse)
      w.uvarint(m.term, "term")
      w.bool(m.granted, "granted")
      w.bool(m.preVote, "preVote")
      return
    case "AppendEntries":
      w.u8(TAG.AppendEntries)
      w.uvarint(m.term, "term")
      w.uvarint(m.prevLogIndex, "prevLogIndex")
      w.uvarint(m.prevLogTerm, "prevLogTerm")
      w.uvarint(m.leaderCommit, "leaderCommit")
      w.uvarint(m.round, "round")
      writeEntries(w, m.entries)
      return
    case "AppendEntriesResponse":
      w.u8(TAG.AppendEntriesResponse)
      w.uvarint(m.term, "term")
      w.bool(m.success, "success")
      w.uvarint(m.index, "index")
      w.uvarint(m.conflictTerm, "conflictTerm")
      w.uvarint(m.conflictIndex, "conflictIndex")
      w.uvarint(m.round, "round")
      return
    case "InstallSnapshot":
      w.u8(TAG.InstallSnapshot)
      w.uvarint(m.term, "term")
      if (typeof m.snapshot !== "object" || m.snapshot === null) throw new WireError("snapshot meta missing")
      w.uvarint(m.snapshot.index, "snapshot index")
      w.uvarint(m.snapshot.term, "snapshot term")
      w.uvarint(m.snapshot.size, "snapshot size")
      w.uvarint(m.offset, "offset")
      w.bool(m.done, "done")
      w.bytes(m.data, "snapshot data")
      return
    case "InstallSnapshotResponse":
      w.u8(TAG.InstallSnapshotResponse)
      w.uvarint(m.term, "term")
      w.uvarint(m.snapshotIndex, "snapshotIndex")
      w.uvarint(m.nextOffset, "nextOffset")
      w.bool(m.done, "done")
      return
    case "TimeoutNow":
      w.u8(TAG.TimeoutNow)
      w.uvarint(m.term, "term")
      return
    case "ReadIndexRequest":
      w.u8(TAG.ReadIndexRequest)
      w.uvarint(m.term, "term")
      writeIds(w, m.ids)
      return
    case "ReadIndexResponse":
      w.u8(TAG.ReadIndexResponse)
      w.uvarint(m.term, "term")
      w.uvarint(m.index, "index")
      writeIds(w, m.ids)
      return
    default:
      throw new WireError(`unknown message tag ${String((m as { readonly _tag?: unknown })._tag)}`)
  }
}

/** Reads one message; the caller checks that nothing follows it. */
export const readMessage = (r: Reader): Message => {
  const tag = r.u8("message tag")
  switch (tag) {
    case TAG.RequestVote:
      return {
        _tag: "RequestVote",
        term: r.uvarint("term"),
        lastLogIndex: r.uvarint("lastLogIndex"),
        lastLogTerm: r.uvarint("lastLogTerm"),
        preVote: r.bool("preVote"),
        transfer: r.bool("transfer")
      }
    case TAG.RequestVoteResponse:
      return {
        _tag: "RequestVoteResponse",
        term: r.uvarint("term"),
        granted: r.bool("granted"),
        preVote: r.bool("preVote")
      }
    case TAG.AppendEntries: {
      const term = r.uvarint("term")
      const prevLogIndex = r.uvarint("prevLogIndex")
      const prevLogTerm = r.uvarint("prevLogTerm")
      const leaderCommit = r.uvarint("leaderCommit")
      const round = r.uvarint("round")
      const entries = readEntries(r)
      return { _tag: "AppendEntries", term, prevLogIndex, prevLogTerm, entries, leaderCommit, round }
    }
    case TAG.AppendEntriesResponse:
      return {
        _tag: "AppendEntriesResponse",
        term: r.uvarint("term"),
        success: r.bool("success"),
        index: r.uvarint("index"),
        conflictTerm: r.uvarint("conflictTerm"),
        conflictIndex: r.uvarint("conflictIndex"),
        round: r.uvarint("round")
      }
    case TAG.InstallSnapshot: {
      const term = r.uvarint("term")
      const snapshot = {
        index: r.uvarint("snapshot index"),
        term: r.uvarint("snapshot term"),
        size: r.uvarint("snapshot size")
      }
      const offset = r.uvarint("offset")
      const done = r.bool("done")
      const data = r.bytes("snapshot data")
      return { _tag: "InstallSnapshot", term, snapshot, offset, data, done }
    }
    case TAG.InstallSnapshotResponse:
      return {
        _tag: "InstallSnapshotResponse",
        term: r.uvarint("term"),
        snapshotIndex: r.uvarint("snapshotIndex"),
        nextOffset: r.uvarint("nextOffset"),
        done: r.bool("done")
      }
    case TAG.TimeoutNow:
      return { _tag: "TimeoutNow", term: r.uvarint("term") }
    case TAG.ReadIndexRequest: {
      const term = r.uvarint("term")
      return { _tag: "ReadIndexRequest", term, ids: readIds(r) }
    }
    case TAG.ReadIndexResponse: {
      const term = r.uvarint("term")
      const index = r.uvarint("index")
      return { _tag: "ReadIndexResponse", term, ids: readIds(r), index }
    }
    default:
      throw new WireError(`unknown message tag ${tag}`)
  }
}
