/**
 * The on-disk encoding of the log store (format version 1).
 *
 * Keys: one prefix byte, then
 * - `0x00` + ASCII name: meta records (`format`, `identity`, `hardState`, `snapshot`), JSON values;
 * - `0x01` + 8-byte big-endian index: log entries, so a key range iterates in log order.
 *
 * Entry values: `kind` (1 byte: 0 noop, 1 command), `term` (unsigned LEB128 varint), `data`
 * (the rest), then a CRC-32 (4 bytes, little-endian) of everything before it. Encoding does no
 * validation (entries come from the trusted core); decoding validates everything and returns a
 * reason string instead of throwing, so the caller can name the key in a CorruptDataDir error.
 */
import { crc32 } from "node:zlib"
import { Result, Schema } from "effect"
import type { Entry, HardState } from "../core/types.ts"
import { allocPooled } from "../transport/byte-pool.ts"

/** The only format this build reads and writes. */
export const FORMAT_VERSION = 1
export const FORMAT_TAG = `raftkv-log/${FORMAT_VERSION}`

export const META_PREFIX = 0x00
export const ENTRY_PREFIX = 0x01
const ENTRY_KEY_LENGTH = 9
const TWO_32 = 0x1_0000_0000

/** Names of the meta records. */
export type MetaName = "format" | "identity" | "hardState" | "snapshot"

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/** The key of a meta record. */
export const metaKey = (name: MetaName): Uint8Array => {
  const bytes = utf8.encode(name)
  const key = new Uint8Array(bytes.length + 1)
  key[0] = META_PREFIX
  key.set(bytes, 1)
  return key
}

/** The key of the log entry at `index`. */
export const entryKey = (index: number): Uint8Array => {
  const key = new Uint8Array(ENTRY_KEY_LENGTH)
  key[0] = ENTRY_PREFIX
  writeU32BE(key, 1, Math.floor(index / TWO_32))
  writeU32BE(key, 5, index >>> 0)
  return key
}

/** The index an entry key encodes, or undefined when it is not a well-formed entry key. */
export const entryKeyIndex = (key: Uint8Array): number | undefined => {
  if (key.length !== ENTRY_KEY_LENGTH || key[0] !== ENTRY_PREFIX) return undefined
  const index = readU32BE(key, 1) * TWO_32 + readU32BE(key, 5)
  return Number.isSafeInteger(index) && index > 0 ? index : undefined
}

/** Hex dump of a key for error messages. */
export const keyHex = (key: Uint8Array): string =>
  Buffer.from(key.buffer, key.byteOffset, key.length).toString("hex")

const varintLength = (n: number): number => {
  let length = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    length++
  }
  return length
}

/** Encode an entry value. One allocation; no validation (the core's entries are trusted). */
export const encodeEntry = (entry: Entry): Uint8Array => {
  const data = entry.data
  const headerLength = 1 + varintLength(entry.term)
  const length = headerLength + data.length + 4
  const out = allocPooled(length)
  out[0] = entry.kind === "noop" ? 0 : 1
  let n = entry.term
  let pos = 1
  while (n >= 128) {
    out[pos++] = (n % 128) | 128
    n = Math.floor(n / 128)
  }
  out[pos] = n
  out.set(data, headerLength)
  writeU32LE(out, length - 4, crc32(out.subarray(0, length - 4)))
  return out
}

/** Decode and validate an entry value; a string is the reason it is invalid. `data` is a view of
 * `value` (no copy). */
export const decodeEntry = (value: Uint8Array): Entry | string => {
  const length = value.length
  if (length < 6) return `entry value too short (${length} bytes, at least 6 expected)`
  const stored = readU32LE(value, length - 4)
  const actual = crc32(value.subarray(0, length - 4))
  if (stored !== actual) return `entry checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`
  const kindByte = value[0]!
  if (kindByte > 1) return `unknown entry kind byte ${kindByte}`
  let term = 0
  let scale = 1
  let pos = 1
  for (;;) {
    if (pos >= length - 4) return "entry term runs past the end of the value"
    if (pos > 8) return "entry term varint longer than 8 bytes"
    const b = value[pos++]!
    term += (b & 127) * scale
    scale *= 128
    if (b < 128) break
  }
  if (!Number.isSafeInteger(term) || term < 1) return `invalid entry term ${term}`
  return { term, kind: kindByte === 0 ? "noop" : "command", data: value.subarray(pos, length - 4) }
}

// --- meta records: small JSON documents, validated with Schema on read ---

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/** Which cluster and node a data dir belongs to. */
export const Identity = Schema.Struct({ clusterId: Schema.String, nodeId: NonNegativeInt })
export type Identity = typeof Identity.Type

const HardStateSchema = Schema.Struct({ term: NonNegativeInt, vote: NonNegativeInt })

/** The stored snapshot: its meta plus the file (in the snapshot dir) that holds its data. */
export const SnapshotRecord = Schema.Struct({
  index: PositiveInt,
  term: PositiveInt,
  size: NonNegativeInt,
  file: Schema.String.check(Schema.isPattern(/^snap-[0-9a-z-]+\.snap$/))
})
export type SnapshotRecord = typeof SnapshotRecord.Type

const encodeJson = (value: unknown): Uint8Array => utf8.encode(JSON.stringify(value))

const decodeJson =
  <S extends Schema.ConstraintDecoder<unknown>>(schema: S) =>
  (bytes: Uint8Array): Result.Result<S["Type"], string> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(utf8Decoder.decode(bytes))
    } catch (e) {
      return Result.fail(`not valid UTF-8 JSON (${(e as Error).message})`)
    }
    return Result.mapError(Schema.decodeUnknownResult(schema)(parsed), (e) => e.message)
  }

export const encodeIdentity = (identity: Identity): Uint8Array =>
  encodeJson({ clusterId: identity.clusterId, nodeId: identity.nodeId })
export const decodeIdentity = decodeJson(Identity)

export const encodeHardState = (hs: HardState): Uint8Array => encodeJson({ term: hs.term, vote: hs.vote })
export const decodeHardState = decodeJson(HardStateSchema)

export const encodeSnapshotRecord = (r: SnapshotRecord): Uint8Array =>
  encodeJson({ index: r.index, term: r.term, size: r.size, file: r.file })
export const decodeSnapshotRecord = decodeJson(SnapshotRecord)

export const encodeFormat = (): Uint8Array => utf8.encode(FORMAT_TAG)

/** Check the format record; a string is why this build cannot read the data. */
export const checkFormat = (bytes: Uint8Array): string | undefined => {
  let text: string
  try {
    text = utf8Decoder.decode(bytes)
  } catch {
    return `format record is not UTF-8 (${keyHex(bytes)})`
  }
  if (text === FORMAT_TAG) return undefined
  const m = /^raftkv-log\/(\d+)$/.exec(text)
  return m === null
    ? `unrecognised format record "${text.slice(0, 64)}"`
    : `format version ${m[1]} is not supported by this build (it reads version ${FORMAT_VERSION})`
}

// --- byte helpers ---

const writeU32BE = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 24
  b[at + 1] = (v >>> 16) & 255
  b[at + 2] = (v >>> 8) & 255
  b[at + 3] = v & 255
}
const readU32BE = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
const writeU32LE = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v & 255
  b[at + 1] = (v >>> 8) & 255
  b[at + 2] = (v >>> 16) & 255
  b[at + 3] = v >>> 24
}
const readU32LE = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
const hex32 = (v: number): string => v.toString(16).padStart(8, "0")
