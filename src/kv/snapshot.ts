/**
 * Streaming snapshots of the KV state: a writer that yields chunks lazily from the live state and
 * a restorer that rebuilds a state from chunks as they arrive. Neither ever holds a second full
 * copy of the data.
 *
 * ## Format (version 1; varint = unsigned LEB128, u32 = little-endian)
 * ```
 * "RKVS" u8(1)                                   magic and format version
 * record*                                        each: u32 bodyLength, body
 *   header  (tag 1): varint appliedIndex, appliedTerm, logTime, sessionCount, keyCount
 *   session (tag 2): varint id, lastActive, floor, resultCount,
 *                    then per result: varint seq, u8 kind, fields (see encodeResult)
 *   key     (tag 3): varint keyLength, key, varint version, value (the rest of the body)
 *   end     (tag 4): u32 crc32 of every byte of the stream before it
 * ```
 * Records come in this order: header, `sessionCount` sessions (in the table's order, which expiry
 * depends on), `keyCount` keys, end. Records may span chunks (a 1 MiB value does). The restorer
 * validates everything: magic, order, counts, field ranges, duplicate keys/sessions, and the CRC
 * (checked as the CRC-32 residue of the whole stream, so it is one pass over the bytes as pushed).
 *
 * ## Consistency: a point-in-time view under concurrent apply
 * A stream captures the state when `snapshot()` is called (applied index G) and may be consumed
 * while entries keep being applied. Records are immutable and carry the index that wrote them
 * (`index`) and a mark of the stream that emitted them. The stream walks the live Map; a record
 * written after G is skipped. Before apply replaces or deletes a record written at or before G
 * that this stream has not emitted yet, it hands the record to the stream (`preserve`), which
 * emits it after the walk. So every key present at G is emitted exactly once with its value at G,
 * and the extra memory is bounded by the records changed while the stream is open. Sessions are
 * small and mutable: they are encoded eagerly when the stream starts.
 * One stream at a time per state (starting a second while one is open is a defect): consume it to
 * the end or `close()` it.
 */
import { Buffer } from "node:buffer"
import { crc32 } from "node:zlib"
import { Schema } from "effect"
import {
  ByteReader,
  copyBytes,
  keyToString,
  varintSize,
  writeKeyString,
  writeU32,
  writeVarint
} from "./bytes.ts"
import type { KvConfig } from "./limits.ts"
import type { WriteResult } from "./results.ts"
import type { Session } from "./sessions.ts"
import { emptyKvState, type KvState, type StoredRecord } from "./state.ts"

/** A snapshot that cannot be restored (truncated, corrupt, or not a KV snapshot). */
export class SnapshotInvalid extends Schema.TaggedError<SnapshotInvalid>()("SnapshotInvalid", {
  reason: Schema.String,
  /** Stream offset (bytes) where the problem was found. */
  offset: Schema.Number
}) {}

/** A snapshot was started while another stream over the same state was still open (a defect). */
export class SnapshotInProgress extends Error {
  constructor() {
    super("a snapshot stream over this state is still open: consume it or close() it first")
    this.name = "SnapshotInProgress"
  }
}

const MAGIC = [0x52, 0x4b, 0x56, 0x53] // "RKVS"
const FORMAT = 1
const PREFIX = 5
const T_HEADER = 1
const T_SESSION = 2
const T_KEY = 3
const T_END = 4
const END_RECORD = 4 + 1 + 4
/** CRC-32 of (data ++ crc32(data) little-endian) is this constant for any data. */
const CRC_RESIDUE = 0x2144df1c
const MIN_CHUNK = 64

let nextStreamId = 1

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/**
 * The chunks of one snapshot, produced lazily (each `next()` fills one chunk of at most
 * `chunkBytes`). Iterate it to the end or call `close()`.
 */
export class SnapshotStream implements IterableIterator<Uint8Array> {
  /** The state's applied index when the snapshot started: the snapshot covers entries up to it. */
  readonly appliedIndex: number
  /** Term of the entry at appliedIndex (the snapshot's SnapshotMeta.term); 0 when empty. */
  readonly appliedTerm: number
  readonly logTime: number
  readonly keyCount: number
  readonly sessionCount: number
  /** Exact size of the whole stream is unknown until the end; this counts bytes yielded so far. */
  bytesYielded = 0

  private readonly id = nextStreamId++
  private readonly state: KvState
  private readonly chunkBytes: number
  /** Records of keys present at the start, changed before this stream emitted them. */
  private readonly preserved: Array<[string, StoredRecord]> = []
  private walk: Iterator<[string, StoredRecord]> | undefined
  private preservedAt = 0
  /** Bytes to emit before producing more records (header and sessions, or a record split at a
   * chunk boundary), consumed from byte `pendingAt` of `pending[pendingHead]`. */
  private pending: Array<Uint8Array> = []
  private pendingHead = 0
  private pendingAt = 0
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  private crc = 0
  private ended = false
  private finished = false

  constructor(state: KvState, chunkBytes: number) {
    if (state.stream !== undefined) throw new SnapshotInProgress()
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < MIN_CHUNK) {
      throw new RangeError(`snapshot chunkBytes must be an integer >= ${MIN_CHUNK}, got ${chunkBytes}`)
    }
    this.state = state
    this.chunkBytes = chunkBytes
    this.appliedIndex = state.appliedIndex
    this.appliedTerm = state.appliedTerm
    this.logTime = state.logTime
    this.keyCount = state.data.size
    this.sessionCount = state.sessions.size
    this.pending.push(this.headerBytes(), encodeSessions(state.sessions.map.values()))
    this.walk = state.data.entries()
    state.stream = this
  }

  /** Called by apply before it replaces or deletes `current` (the record of `key`). */
  preserve(key: string, current: StoredRecord): void {
    if (current.index <= this.appliedIndex && current.mark !== this.id) this.preserved.push([key, current])
  }

  [Symbol.iterator](): this {
    return this
  }

  next(): IteratorResult<Uint8Array, undefined> {
    if (this.finished) return { done: true, value: undefined }
    this.buf = Buffer.allocUnsafeSlow(this.chunkBytes)
    this.pos = 0
    while (this.pos < this.chunkBytes) {
      if (this.pendingHead < this.pending.length) this.drainPending()
      else if (this.ended || !this.produce()) break
    }
    // A plain Uint8Array view (a Buffer's `slice` would surprise consumers by not copying).
    const chunk = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos)
    if (!this.ended) this.crc = crc32(chunk, this.crc)
    if (this.ended) this.close()
    this.bytesYielded += chunk.length
    return chunk.length === 0 ? { done: true, value: undefined } : { done: false, value: chunk }
  }

  return(): IteratorResult<Uint8Array, undefined> {
    this.close()
    return { done: true, value: undefined }
  }

  /** Stops the stream and releases what it kept (idempotent). */
  close(): void {
    this.finished = true
    this.walk = undefined
    this.preserved.length = 0
    this.pending = []
    if (this.state.stream === this) this.state.stream = undefined
  }

  private headerBytes(): Uint8Array {
    const fields = [this.appliedIndex, this.appliedTerm, this.logTime, this.sessionCount, this.keyCount]
    let body = 1
    for (const f of fields) body += varintSize(f)
    const out = new Uint8Array(PREFIX + 4 + body)
    out.set(MAGIC, 0)
    out[4] = FORMAT
    let p = writeU32(out, PREFIX, body)
    out[p++] = T_HEADER
    for (const f of fields) p = writeVarint(out, p, f)
    return out
  }

  private drainPending(): void {
    const piece = this.pending[this.pendingHead]!
    const n = Math.min(piece.length - this.pendingAt, this.chunkBytes - this.pos)
    this.buf.set(piece.subarray(this.pendingAt, this.pendingAt + n), this.pos)
    this.pos += n
    this.pendingAt += n
    if (this.pendingAt === piece.length) {
      this.pendingAt = 0
      if (++this.pendingHead === this.pending.length) {
        this.pending = []
        this.pendingHead = 0
      }
    }
  }

  /** Emits the next record (into the chunk, or into `pending` when it does not fit). Returns
   * false when nothing can be produced into this chunk (stream ended, or the end record must
   * start in a fresh chunk). */
  private produce(): boolean {
    const walk = this.walk
    if (walk !== undefined) {
      for (;;) {
        const step = walk.next()
        if (step.done === true) break
        const [key, rec] = step.value
        if (rec.index > this.appliedIndex) continue // written after the snapshot started
        rec.mark = this.id
        this.emitKey(key, rec)
        return true
      }
      this.walk = undefined
    }
    if (this.preservedAt < this.preserved.length) {
      const [key, rec] = this.preserved[this.preservedAt]!
      this.preserved[this.preservedAt++] = EMPTY_ENTRY // let it be collected
      this.emitKey(key, rec)
      return true
    }
    if (this.chunkBytes - this.pos < END_RECORD) return false
    const buf = this.buf
    let p = writeU32(buf, this.pos, 5)
    buf[p++] = T_END
    this.crc = crc32(buf.subarray(0, p), this.crc)
    this.pos = writeU32(buf, p, this.crc)
    this.ended = true
    return true
  }

  private emitKey(key: string, rec: StoredRecord): void {
    const value = rec.value
    const headLen = 1 + varintSize(key.length) + key.length + varintSize(rec.version)
    const body = headLen + value.length
    const total = 4 + body
    const fits = this.chunkBytes - this.pos >= total
    const out = fits ? this.buf : Buffer.allocUnsafe(4 + headLen)
    let p = fits ? this.pos : 0
    p = writeU32(out, p, body)
    out[p++] = T_KEY
    p = writeVarint(out, p, key.length)
    p = writeKeyString(out, p, key)
    p = writeVarint(out, p, rec.version)
    if (fits) {
      out.set(value, p)
      this.pos = p + value.length
    } else {
      this.pending.push(out, value)
    }
  }
}

const EMPTY_ENTRY: [string, StoredRecord] = ["", { value: new Uint8Array(0), version: 0, index: 0, mark: 0 }]

/** All session records, in table order, in one buffer. */
const encodeSessions = (sessions: Iterable<Session>): Uint8Array => {
  const list = [...sessions]
  const bodies = list.map((s) => {
    let body =
      1 + varintSize(s.id) + varintSize(s.lastActive) + varintSize(s.floor) + varintSize(s.results.size)
    for (const [seq, r] of s.results) body += varintSize(seq) + resultSize(r)
    return body
  })
  const out = new Uint8Array(bodies.reduce((n, b) => n + 4 + b, 0))
  let p = 0
  list.forEach((s, i) => {
    p = writeU32(out, p, bodies[i]!)
    out[p++] = T_SESSION
    p = writeVarint(out, p, s.id)
    p = writeVarint(out, p, s.lastActive)
    p = writeVarint(out, p, s.floor)
    p = writeVarint(out, p, s.results.size)
    for (const [seq, r] of s.results) p = encodeResult(out, writeVarint(out, p, seq), r)
  })
  return out
}

// Remembered write results: u8 kind, then its fields as varints.
const R_WRITTEN = 1
const R_DELETED = 2
const R_MISMATCH = 3
const R_KEY_TOO_LARGE = 4
const R_VALUE_TOO_LARGE = 5

const resultSize = (r: WriteResult): number => {
  switch (r._tag) {
    case "Written":
      return 1 + varintSize(r.version)
    case "Deleted":
      return 2
    case "VersionMismatch":
      return 1 + varintSize(r.currentVersion)
    case "KeyTooLarge":
    case "ValueTooLarge":
      return 1 + varintSize(r.size) + varintSize(r.limit)
  }
}

const encodeResult = (out: Uint8Array, p: number, r: WriteResult): number => {
  switch (r._tag) {
    case "Written":
      out[p] = R_WRITTEN
      return writeVarint(out, p + 1, r.version)
    case "Deleted":
      out[p] = R_DELETED
      out[p + 1] = r.deleted ? 1 : 0
      return p + 2
    case "VersionMismatch":
      out[p] = R_MISMATCH
      return writeVarint(out, p + 1, r.currentVersion)
    case "KeyTooLarge":
    case "ValueTooLarge":
      out[p] = r._tag === "KeyTooLarge" ? R_KEY_TOO_LARGE : R_VALUE_TOO_LARGE
      return writeVarint(out, writeVarint(out, p + 1, r.size), r.limit)
  }
}

const decodeResult = (r: ByteReader): WriteResult | undefined => {
  const kind = r.u8()
  switch (kind) {
    case R_WRITTEN: {
      const version = r.varint()
      return version >= 1 ? { _tag: "Written", version } : undefined
    }
    case R_DELETED: {
      const b = r.u8()
      return b === 0 || b === 1 ? { _tag: "Deleted", deleted: b === 1 } : undefined
    }
    case R_MISMATCH: {
      const currentVersion = r.varint()
      return r.ok ? { _tag: "VersionMismatch", currentVersion } : undefined
    }
    case R_KEY_TOO_LARGE:
    case R_VALUE_TOO_LARGE: {
      const tag = kind === R_KEY_TOO_LARGE ? "KeyTooLarge" : "ValueTooLarge"
      const size = r.varint()
      const limit = r.varint()
      return r.ok ? { _tag: tag, size, limit } : undefined
    }
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Restorer
// ---------------------------------------------------------------------------------------------

/** Largest record body accepted (a key record is bounded by the configured limits; a session
 * record by its result window). Guards allocations against a corrupt length. */
const maxRecordBytes = (config: KvConfig): number =>
  Math.max(64 * 1024 * 1024, config.maxKeyBytes + config.maxValueBytes + 1024)

/**
 * Rebuilds a state from snapshot chunks pushed in order. Records are decoded as soon as they are
 * complete (a record split across chunks is assembled once, in a buffer of its exact size), so
 * memory is the new state plus at most one record. Nothing is committed until `finish` has
 * checked the end record, the counts and the CRC.
 */
export class SnapshotRestorer {
  private readonly commit: (state: KvState) => void
  private readonly state: KvState
  private readonly maxRecord: number
  private readonly reader = new ByteReader(new Uint8Array(0))
  /** Stream offset of the next byte to be pushed. */
  private offset = 0
  private crc = 0
  private error: SnapshotInvalid | undefined
  private done = false
  /** Assembly of the magic prefix or a record length (up to 5 bytes) across chunks. */
  private readonly small = new Uint8Array(PREFIX)
  private smallFill = 0
  private prefixSeen = false
  /** Assembly of a record body across chunks. */
  private body: Uint8Array | undefined
  private bodyFill = 0
  // Decoding progress.
  private headerSeen = false
  private endSeen = false
  private sessionsLeft = 0
  private keysLeft = 0
  private lastActive = 0

  constructor(config: KvConfig, commit: (state: KvState) => void) {
    this.commit = commit
    this.state = emptyKvState(config)
    this.maxRecord = maxRecordBytes(config)
  }

  /** Feeds the next chunk; returns the error once the stream is known to be invalid. */
  push(chunk: Uint8Array): SnapshotInvalid | undefined {
    if (this.error !== undefined) return this.error
    if (this.done) return this.fail("push after finish", this.offset)
    this.crc = crc32(chunk, this.crc)
    let p = 0
    const n = chunk.length
    while (p < n && this.error === undefined) {
      if (this.endSeen) return this.fail("data after the end record", this.offset + p)
      if (this.body !== undefined) {
        const take = Math.min(n - p, this.body.length - this.bodyFill)
        this.body.set(chunk.subarray(p, p + take), this.bodyFill)
        this.bodyFill += take
        p += take
        if (this.bodyFill === this.body.length) {
          const body = this.body
          this.body = undefined
          this.record(body, this.offset + p - body.length, true)
        }
        continue
      }
      const want = this.prefixSeen ? 4 : PREFIX
      if (this.smallFill === 0 && n - p >= want) {
        // Fast path: the prefix/length is whole in this chunk.
        if (!this.prefixSeen) {
          this.small.set(chunk.subarray(p, p + PREFIX))
          this.smallFill = PREFIX
          p += PREFIX
        } else {
          const length = this.reader.reset(chunk, p, p + 4).u32()
          p += 4
          if (!this.startRecord(length, this.offset + p)) break
          if (n - p >= length) {
            this.record(chunk.subarray(p, p + length), this.offset + p, false)
            p += length
          } else {
            this.body = new Uint8Array(length)
            this.bodyFill = 0
          }
          continue
        }
      } else {
        const take = Math.min(n - p, want - this.smallFill)
        this.small.set(chunk.subarray(p, p + take), this.smallFill)
        this.smallFill += take
        p += take
        if (this.smallFill < want) continue
      }
      this.smallFill = 0
      if (!this.prefixSeen) {
        this.prefixSeen = true
        if (MAGIC.some((b, i) => this.small[i] !== b)) return this.fail("not a KV snapshot (bad magic)", 0)
        if (this.small[4] !== FORMAT) return this.fail(`unknown snapshot format ${this.small[4]}`, 4)
        continue
      }
      const length = this.reader.reset(this.small, 0, 4).u32()
      if (!this.startRecord(length, this.offset + p)) break
      this.body = new Uint8Array(length)
      this.bodyFill = 0
    }
    this.offset += n
    return this.error
  }

  /** Ends the stream: checks completeness and the CRC, then installs the state. */
  finish(): SnapshotInvalid | undefined {
    if (this.error !== undefined) return this.error
    if (this.done) return this.fail("finish called twice", this.offset)
    this.done = true
    if (!this.endSeen) return this.fail("truncated snapshot (no end record)", this.offset)
    if (this.crc !== CRC_RESIDUE) return this.fail("checksum mismatch", this.offset)
    this.commit(this.state)
    return undefined
  }

  private fail(reason: string, offset: number): SnapshotInvalid {
    this.error ??= new SnapshotInvalid({ reason, offset })
    return this.error
  }

  private startRecord(length: number, offset: number): boolean {
    if (length < 1 || length > this.maxRecord) {
      this.fail(`bad record length ${length}`, offset - 4)
      return false
    }
    return true
  }

  /** Decodes one record body; `owned` when the body is a buffer of ours (no need to copy). */
  private record(body: Uint8Array, offset: number, owned: boolean): void {
    const r = this.reader.reset(body)
    const tag = r.u8()
    const st = this.state
    if (!this.headerSeen) {
      if (tag !== T_HEADER) return void this.fail("missing header record", offset)
      this.headerSeen = true
      st.appliedIndex = r.varint()
      st.appliedTerm = r.varint()
      st.logTime = r.varint()
      this.sessionsLeft = r.varint()
      this.keysLeft = r.varint()
      if (!r.ok || r.remaining !== 0) return void this.fail("malformed header record", offset)
      return
    }
    switch (tag) {
      case T_SESSION:
        if (this.sessionsLeft === 0) return void this.fail("unexpected session record", offset)
        this.sessionsLeft--
        return this.session(r, offset)
      case T_KEY:
        if (this.sessionsLeft !== 0 || this.keysLeft === 0)
          return void this.fail("unexpected key record", offset)
        this.keysLeft--
        return this.key(r, body, offset, owned)
      case T_END:
        if (this.sessionsLeft !== 0 || this.keysLeft !== 0) {
          return void this.fail("end record before all sessions and keys", offset)
        }
        if (body.length !== 5) return void this.fail("malformed end record", offset)
        this.endSeen = true
        return
      default:
        return void this.fail(`unknown record tag ${tag}`, offset)
    }
  }

  private session(r: ByteReader, offset: number): void {
    const st = this.state
    const id = r.varint()
    const lastActive = r.varint()
    const floor = r.varint()
    const count = r.varint()
    if (!r.ok || count > r.remaining) return void this.fail("malformed session record", offset)
    if (lastActive > st.logTime || lastActive < this.lastActive) {
      return void this.fail("session times out of order", offset)
    }
    if (st.sessions.get(id) !== undefined) return void this.fail(`duplicate session ${id}`, offset)
    const results = new Map<number, WriteResult>()
    for (let i = 0; i < count; i++) {
      const seq = r.varint()
      const result = decodeResult(r)
      if (!r.ok || result === undefined) return void this.fail("malformed session result", offset)
      results.set(seq, result)
    }
    if (r.remaining !== 0 || results.size !== count) return void this.fail("malformed session record", offset)
    this.lastActive = lastActive
    st.sessions.insert({ id, lastActive, floor, results })
  }

  private key(r: ByteReader, body: Uint8Array, offset: number, owned: boolean): void {
    const st = this.state
    const keyLength = r.varint()
    const keyBytes = r.bytes(keyLength)
    const version = r.varint()
    if (!r.ok || keyBytes === undefined || version < 1) return void this.fail("malformed key record", offset)
    const key = keyToString(keyBytes)
    if (st.data.has(key)) return void this.fail("duplicate key", offset)
    // Copy out of the pushed chunk (the caller may reuse it); an assembled body is already ours.
    // One buffer per value, not views into a shared copy of the chunk: that restored ~25% faster
    // but would pin a whole chunk for as long as any one of its values lives (up to a second copy
    // of the restored data under overwrites).
    const value = owned ? body.subarray(r.pos) : copyBytes(body.subarray(r.pos))
    st.data.set(key, { value, version, index: 0, mark: 0 })
    st.dataBytes += key.length + value.length
  }
}

/** Pushes every chunk of `chunks` into `restorer` and finishes it. */
export const readSnapshot = (
  restorer: SnapshotRestorer,
  chunks: Iterable<Uint8Array>
): SnapshotInvalid | undefined => {
  for (const chunk of chunks) {
    const error = restorer.push(chunk)
    if (error !== undefined) return error
  }
  return restorer.finish()
}
