import type { Command, Event, Message, NodeId, Role } from "../../src/core/index.ts"

/** One line of a run's history, kept by reference and formatted only when someone reads it. */
export interface TraceRecord {
  readonly time: number
  readonly node: NodeId
  /** A core step: the event, the commands it produced, and the resulting role/term/commit. */
  readonly event: Event | undefined
  readonly commands: ReadonlyArray<Command>
  readonly role: Role | undefined
  readonly term: number
  readonly commit: number
  /** A simulator action (crash, partition, ...) instead of a step. */
  readonly note: string | undefined
}

/** A fixed-size ring of the latest trace records (the tail printed with a violation). */
export class TraceRing {
  private readonly items: Array<TraceRecord | undefined>
  private next = 0

  constructor(size: number) {
    this.items = new Array<TraceRecord | undefined>(size).fill(undefined)
  }

  push(record: TraceRecord): void {
    if (this.items.length === 0) return
    this.items[this.next] = record
    this.next = (this.next + 1) % this.items.length
  }

  /** Records oldest first. */
  toArray(): TraceRecord[] {
    const out: TraceRecord[] = []
    for (let k = 0; k < this.items.length; k++) {
      const r = this.items[(this.next + k) % this.items.length]
      if (r !== undefined) out.push(r)
    }
    return out
  }
}

const ids = (xs: ReadonlyArray<number>): string =>
  xs.length <= 4 ? xs.join(",") : `${xs.slice(0, 4).join(",")},..`

export const formatMessage = (m: Message): string => {
  switch (m._tag) {
    case "RequestVote":
      return `${m.preVote ? "PreVote" : "RequestVote"} t${m.term} last ${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? " transfer" : ""}`
    case "RequestVoteResponse":
      return `${m.preVote ? "PreVoteResp" : "VoteResp"} t${m.term} ${m.granted ? "granted" : "refused"}`
    case "AppendEntries":
      return `AppendEntries t${m.term} prev ${m.prevLogIndex}/${m.prevLogTerm} n=${m.entries.length} commit ${m.leaderCommit}${m.round > 0 ? ` round ${m.round}` : ""}`
    case "AppendEntriesResponse":
      return `AppendResp t${m.term} ${m.success ? `ok ${m.index}` : `reject ${m.index} conflict ${m.conflictIndex}/${m.conflictTerm}`}${m.round > 0 ? ` round ${m.round}` : ""}`
    case "InstallSnapshot":
      return `InstallSnapshot t${m.term} snap ${m.snapshot.index}/${m.snapshot.term} [${m.offset}+${m.data.length}/${m.snapshot.size}]${m.done ? " done" : ""}`
    case "InstallSnapshotResponse":
      return `SnapshotResp t${m.term} snap ${m.snapshotIndex} next ${m.nextOffset}${m.done ? " done" : ""}`
    case "TimeoutNow":
      return `TimeoutNow t${m.term}`
    case "ReadIndexRequest":
      return `ReadIndexReq t${m.term} ids ${ids(m.ids)}`
    case "ReadIndexResponse":
      return `ReadIndexResp t${m.term} ids ${ids(m.ids)} index ${m.index}`
  }
}

export const formatEvent = (e: Event): string => {
  switch (e._tag) {
    case "Tick":
      return "Tick"
    case "Receive":
      return `Receive from n${e.from}: ${formatMessage(e.message)}`
    case "Propose":
      return `Propose #${e.id} x${e.data.length}${e.reads === undefined ? "" : ` reads ${ids(e.reads)}`}`
    case "Persisted":
      return `Persisted w${e.writeId}`
    case "SnapshotTaken":
      return `SnapshotTaken ${e.index} (${e.size} B)`
    case "ReadIndex":
      return `ReadIndex ids ${ids(e.ids)}`
    case "TransferLeadership":
      return `TransferLeadership to n${e.to}`
  }
}

export const formatCommand = (c: Command): string => {
  switch (c._tag) {
    case "Persist":
      return `Persist w${c.writeId}${c.hardState ? ` hs ${c.hardState.term}/${c.hardState.vote}` : ""}${c.log ? ` log ${c.log.from}+${c.log.entries.length}` : ""}`
    case "Send":
      return `Send n${c.to} ${formatMessage(c.message)}${c.afterWrite !== undefined ? ` after w${c.afterWrite}` : ""}`
    case "SetTimer":
      return `SetTimer ${c.at.toFixed(1)}`
    case "Apply":
      return `Apply ${c.firstIndex}..${c.firstIndex + c.entries.length - 1}`
    case "Proposed":
      return `Proposed #${c.id} at ${c.firstIndex} t${c.term}`
    case "ProposalDropped":
      return `ProposalDropped #${c.id} ${c.reason} leader n${c.leader}`
    case "ReadReady":
      return `ReadReady ${ids(c.ids)} index ${c.index}`
    case "ReadFailed":
      return `ReadFailed ${ids(c.ids)} ${c.reason}`
    case "CompactLog":
      return `CompactLog ${c.upTo}`
    case "SendSnapshotChunk":
      return `SendSnapshotChunk n${c.to} snap ${c.snapshot.index}/${c.snapshot.term} [${c.offset}+${c.length}]${c.done ? " done" : ""}`
    case "PersistSnapshotChunk":
      return `PersistSnapshotChunk w${c.writeId} snap ${c.snapshot.index} [${c.offset}+${c.data.length}]${c.done ? ` done keepLog=${c.keepLog}` : ""}`
    case "RestoreSnapshot":
      return `RestoreSnapshot ${c.snapshot.index}/${c.snapshot.term}`
    case "RoleChanged":
      return `RoleChanged ${c.role} t${c.term} leader n${c.leader}`
  }
}

/** One human-readable line for a record. */
export const formatRecord = (r: TraceRecord): string => {
  const head = `${r.time.toFixed(3).padStart(10)} n${r.node}`
  if (r.note !== undefined) return `${head} * ${r.note}`
  const cmds = r.commands.filter((c) => c._tag !== "SetTimer").map(formatCommand)
  const after = `${r.role ?? "?"} t${r.term} c${r.commit}`
  return `${head} ${r.event ? formatEvent(r.event) : "start"} -> [${cmds.join("; ")}] ${after}`
}
