import type {
  Entry,
  HardState,
  Persist,
  PersistSnapshotChunk,
  Restored,
  SnapshotMeta
} from "../../src/core/index.ts"

/** A snapshot at rest: its metadata and bytes. */
export interface StoredSnapshot {
  readonly meta: SnapshotMeta
  readonly data: Uint8Array
}

/** A term value meaning "unknown" (the disk compacted past what it held). */
const UNKNOWN_TERM = -1
/** Older snapshots kept so an in-progress transfer can still read them (as a real store keeps a
 * file open while it streams it). */
const RETAINED_SNAPSHOTS = 3

/**
 * One node's durable state, exactly what survives a crash: hard state, log, snapshot, and the
 * chunks of a snapshot being received. Only completed writes reach it (the simulator applies a
 * write when its simulated fsync completes), so a crash loses everything else by construction.
 *
 * Methods return a description of a contract breach (a command that cannot be carried out
 * faithfully) or undefined; the simulator reports a breach as a violation.
 */
export class Disk {
  hardState: HardState = { term: 0, vote: 0 }
  /** The log: `entries[k]` is the entry at index `prevIndex + 1 + k`. */
  prevIndex = 0
  prevTerm = 0
  entries: Entry[] = []
  snapshot: StoredSnapshot | undefined = undefined
  private retained: StoredSnapshot[] = []
  /** The snapshot being received: its bytes and how many of them are contiguous from 0. */
  incoming: { meta: SnapshotMeta; data: Uint8Array; filled: number } | undefined = undefined
  /** Restarts whose log did not chain to the snapshot and was dropped (see `restored`). */
  droppedUnchainedLogs = 0

  lastIndex(): number {
    return this.prevIndex + this.entries.length
  }

  /** Term at `index`, or undefined when not held (UNKNOWN_TERM maps to undefined too). */
  termAt(index: number): number | undefined {
    if (index === this.prevIndex) return this.prevTerm === UNKNOWN_TERM ? undefined : this.prevTerm
    if (index < this.prevIndex || index > this.lastIndex()) return undefined
    return this.entries[index - this.prevIndex - 1]!.term
  }

  /** Is `index` durably covered, by the log or by the snapshot? */
  covers(index: number): boolean {
    return index <= this.lastIndex() || (this.snapshot !== undefined && index <= this.snapshot.meta.index)
  }

  /** A completed `Persist`: hard state, then the log write (truncate at `from`, append). */
  applyPersist(cmd: Persist): string | undefined {
    if (cmd.hardState !== undefined) this.hardState = cmd.hardState
    const w = cmd.log
    if (w === undefined) return undefined
    if (w.from > this.lastIndex() + 1) {
      return `Persist writes from ${w.from} but the durable log ends at ${this.lastIndex()} (a gap)`
    }
    // Entries at or below the compaction point are already covered by the snapshot.
    const skip = Math.max(0, this.prevIndex + 1 - w.from)
    const keep = Math.max(0, w.from - this.prevIndex - 1)
    if (keep < this.entries.length) this.entries.length = keep
    for (let k = skip; k < w.entries.length; k++) this.entries.push(w.entries[k]!)
    return undefined
  }

  /** A completed `PersistSnapshotChunk`. A chunk at offset 0 starts a new transfer. */
  applySnapshotChunk(cmd: PersistSnapshotChunk): string | undefined {
    const meta = cmd.snapshot
    let inc = this.incoming
    if (inc === undefined || cmd.offset === 0 || !sameMeta(inc.meta, meta)) {
      inc = { meta, data: new Uint8Array(meta.size), filled: 0 }
      this.incoming = inc
    }
    if (cmd.offset + cmd.data.length > meta.size) {
      return `snapshot chunk [${cmd.offset}, ${cmd.offset + cmd.data.length}) beyond its size ${meta.size}`
    }
    inc.data.set(cmd.data, cmd.offset)
    if (cmd.offset <= inc.filled) inc.filled = Math.max(inc.filled, cmd.offset + cmd.data.length)
    if (!cmd.done) return undefined
    this.incoming = undefined
    if (inc.filled < meta.size) {
      return `snapshot ${meta.index}/${meta.term} completed with only ${inc.filled} of ${meta.size} bytes written in order`
    }
    this.setSnapshot({ meta, data: inc.data })
    if (!cmd.keepLog) {
      this.resetLog(meta.index, meta.term)
      return undefined
    }
    const term = this.termAt(meta.index)
    if (meta.index < this.prevIndex) {
      return `snapshot ${meta.index}/${meta.term} installed with keepLog below the log's compaction point ${this.prevIndex}`
    }
    if (meta.index > this.lastIndex()) {
      this.resetLog(meta.index, meta.term)
    } else if (term !== undefined && term !== meta.term) {
      return `snapshot ${meta.index}/${meta.term} installed with keepLog, but the durable log has term ${term} there`
    } else if (meta.index > this.prevIndex) {
      this.dropThrough(meta.index, meta.term)
    }
    return undefined
  }

  /** A snapshot the local state machine wrote (the simulator only saves newer ones). */
  saveLocalSnapshot(snapshot: StoredSnapshot): void {
    this.setSnapshot(snapshot)
  }

  /** `CompactLog { upTo }`: drop entries <= upTo; they must be covered by the durable snapshot. */
  compact(upTo: number): string | undefined {
    if (upTo <= this.prevIndex) return undefined
    const snap = this.snapshot
    if (snap === undefined || snap.meta.index < upTo) {
      return `CompactLog up to ${upTo} but the durable snapshot ends at ${snap?.meta.index ?? 0}`
    }
    if (upTo === snap.meta.index && this.termAt(upTo) !== snap.meta.term) {
      // The durable log is behind the snapshot, or holds a stale entry there (a pending write will
      // replace it): what follows does not chain to the snapshot.
      this.resetLog(upTo, snap.meta.term)
    } else if (upTo >= this.lastIndex()) {
      this.resetLog(upTo, this.termAt(upTo) ?? UNKNOWN_TERM)
    } else {
      this.dropThrough(upTo, this.termAt(upTo)!)
    }
    return undefined
  }

  /**
   * What a restarting node recovers; like a runtime at start-up, it first tidies the log so that
   * it continues the snapshot. The log after the snapshot is kept only when it chains to it (the
   * durable log holds the snapshot's last entry with the snapshot's term): a node may apply a
   * committed entry that it has not yet written itself, snapshot it, and crash before the write,
   * leaving a stale, divergent suffix on disk. Loading that suffix after the snapshot would make
   * the node claim a log less up to date than what it applied, so it is dropped. A log that ends
   * before the snapshot (a compaction lost in the crash) is dropped too.
   */
  restored(): Restored {
    const snap = this.snapshot
    const hardState = this.hardState
    if (snap === undefined) {
      return { hardState, snapshot: undefined, entries: this.prevIndex === 0 ? this.entries.slice() : [] }
    }
    const { index, term } = snap.meta
    if (index >= this.prevIndex && this.termAt(index) === term) {
      if (index > this.prevIndex) this.dropThrough(index, term)
    } else {
      if (index < this.lastIndex()) this.droppedUnchainedLogs++
      this.resetLog(index, term)
    }
    return { hardState, snapshot: snap.meta, entries: this.entries.slice() }
  }

  /** Read `[offset, offset + length)` of the stored snapshot `meta`, if it is still held. */
  readSnapshot(meta: SnapshotMeta, offset: number, length: number): Uint8Array | undefined {
    const s =
      this.snapshot !== undefined && sameMeta(this.snapshot.meta, meta)
        ? this.snapshot
        : this.retained.find((r) => sameMeta(r.meta, meta))
    if (s === undefined || offset < 0 || offset + length > s.data.length) return undefined
    return s.data.subarray(offset, offset + length)
  }

  private setSnapshot(snapshot: StoredSnapshot): void {
    if (this.snapshot !== undefined) {
      this.retained.push(this.snapshot)
      if (this.retained.length > RETAINED_SNAPSHOTS) this.retained.shift()
    }
    this.snapshot = snapshot
  }

  private resetLog(prevIndex: number, prevTerm: number): void {
    this.prevIndex = prevIndex
    this.prevTerm = prevTerm
    this.entries = []
  }

  private dropThrough(index: number, term: number): void {
    this.entries = this.entries.slice(index - this.prevIndex)
    this.prevIndex = index
    this.prevTerm = term
  }
}

export const sameMeta = (a: SnapshotMeta, b: SnapshotMeta): boolean =>
  a.index === b.index && a.term === b.term && a.size === b.size
