/**
 * The frame format between peers and its encoder/decoder.
 *
 * ```
 * frame = length (u32, big-endian, bytes that follow) | body
 * body  = version (u8, FORMAT_VERSION) | SchemaBinary(WireFrame)
 * ```
 *
 * The version byte comes first and outside the schema so a future format can be recognised (and
 * refused with a clear reason) before any decoding. The rest is effect's SchemaBinary encoding of
 * {@link WireFrame}, which validates while it decodes: a decoded frame satisfies the core's types.
 *
 * Decoding untrusted bytes never throws: every failure is a {@link FrameDecodeError}.
 */
import { Exit, Result, Schema } from "effect"
import { SchemaBinary } from "effect/encoding"
import type { Message } from "../core/types.ts"
import { WireFrame } from "./schema.ts"

/** The wire format this build speaks. Bump on any incompatible change of {@link WireFrame}. */
export const FORMAT_VERSION = 1

/** Bytes of the big-endian length prefix that starts every frame. */
export const LENGTH_PREFIX_BYTES = 4

/** The largest length a 4-byte prefix can state. */
export const MAX_LENGTH_PREFIX = 0xffff_ffff

const codec = SchemaBinary.toCodec(WireFrame)
const encodeBinary = Schema.encodeExit(codec)
const decodeBinary = Schema.decodeUnknownExit(codec)

/** Why a frame body could not be decoded. */
export type FrameDecodeReason = "empty" | "unsupported-version" | "invalid"

/** A frame body that is not a valid {@link WireFrame} of this format version. */
export class FrameDecodeError extends Schema.TaggedError<FrameDecodeError>()("FrameDecodeError", {
  reason: Schema.Literals(["empty", "unsupported-version", "invalid"]),
  detail: Schema.String
}) {}

/** A value that could not be encoded: not a valid WireFrame (a bug upstream) or too big to send. */
export class FrameEncodeError extends Schema.TaggedError<FrameEncodeError>()("FrameEncodeError", {
  reason: Schema.Literals(["invalid", "oversized"]),
  detail: Schema.String
}) {}

const failEncode = (reason: FrameEncodeError["reason"], detail: string) =>
  Result.fail(new FrameEncodeError({ reason, detail }))

/** Encodes a frame's body without its length prefix; the result is a view the caller must copy. */
const encodeBody = (frame: WireFrame, maxFrameBytes: number): Result.Result<Uint8Array, FrameEncodeError> => {
  let exit: Exit.Exit<Uint8Array, Schema.SchemaError>
  try {
    exit = encodeBinary(frame)
  } catch (cause) {
    return failEncode("invalid", String(cause))
  }
  if (Exit.isFailure(exit)) return failEncode("invalid", causeDetail(exit.cause))
  const bodyLength = 1 + exit.value.length
  if (bodyLength > maxFrameBytes) {
    return failEncode("oversized", `body of ${bodyLength} bytes exceeds the limit of ${maxFrameBytes}`)
  }
  return Result.succeed(exit.value)
}

/** Writes prefix, version byte and `encoded` at `offset` of `out`; returns the offset after it. */
const writeFrame = (out: Uint8Array, offset: number, encoded: Uint8Array): number => {
  const bodyLength = 1 + encoded.length
  writeLengthPrefix(out.subarray(offset), bodyLength)
  out[offset + LENGTH_PREFIX_BYTES] = FORMAT_VERSION
  out.set(encoded, offset + LENGTH_PREFIX_BYTES + 1)
  return offset + LENGTH_PREFIX_BYTES + bodyLength
}

/**
 * Encodes a whole frame, length prefix included, into a fresh buffer the caller owns.
 *
 * Fails (never throws) when the value is not a valid WireFrame (e.g. a negative index produced by
 * a bug) or when the body would exceed `maxFrameBytes`.
 */
export const encodeFrame = (
  frame: WireFrame,
  maxFrameBytes: number = MAX_LENGTH_PREFIX
): Result.Result<Uint8Array, FrameEncodeError> => {
  const body = encodeBody(frame, maxFrameBytes)
  if (Result.isFailure(body)) return body
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + 1 + body.success.length)
  writeFrame(out, 0, body.success)
  return Result.succeed(out)
}

/** Several frames encoded back to back in one buffer, and the ones that could not be encoded. */
export interface EncodedBatch {
  /** The concatenated frames (empty when none could be encoded). */
  readonly bytes: Uint8Array
  readonly frames: number
  readonly failures: ReadonlyArray<FrameEncodeError>
}

/**
 * Encodes `frames` into one buffer, ready for a single socket write (one allocation and one write
 * per batch instead of per frame). Frames that fail to encode are left out and reported.
 */
export const encodeFrames = (frames: ReadonlyArray<WireFrame>, maxFrameBytes: number): EncodedBatch => {
  const bodies: Array<Uint8Array> = []
  const failures: Array<FrameEncodeError> = []
  let total = 0
  for (const frame of frames) {
    const body = encodeBody(frame, maxFrameBytes)
    if (Result.isFailure(body)) failures.push(body.failure)
    else {
      bodies.push(body.success)
      total += LENGTH_PREFIX_BYTES + 1 + body.success.length
    }
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const body of bodies) offset = writeFrame(bytes, offset, body)
  return { bytes, frames: bodies.length, failures }
}

/**
 * Decodes a frame body (the bytes after the length prefix). Never throws: garbage, truncated or
 * hostile input is a {@link FrameDecodeError}. The decoded value owns its bytes (no aliasing of
 * `body`), so the caller may reuse the buffer.
 */
export const decodeBody = (body: Uint8Array): Result.Result<WireFrame, FrameDecodeError> => {
  if (body.length === 0)
    return Result.fail(new FrameDecodeError({ reason: "empty", detail: "empty frame body" }))
  const version = body[0]
  if (version !== FORMAT_VERSION) {
    return Result.fail(
      new FrameDecodeError({
        reason: "unsupported-version",
        detail: `format version ${version}, this node speaks ${FORMAT_VERSION}`
      })
    )
  }
  let exit: Exit.Exit<WireFrame, Schema.SchemaError>
  try {
    exit = decodeBinary(body.subarray(1))
  } catch (cause) {
    return Result.fail(new FrameDecodeError({ reason: "invalid", detail: String(cause) }))
  }
  if (Exit.isSuccess(exit)) return Result.succeed(exit.value)
  return Result.fail(new FrameDecodeError({ reason: "invalid", detail: causeDetail(exit.cause) }))
}

/** Decodes a whole frame (length prefix included), checking the prefix matches the byte count. */
export const decodeFrame = (frame: Uint8Array): Result.Result<WireFrame, FrameDecodeError> => {
  if (frame.length < LENGTH_PREFIX_BYTES) {
    return Result.fail(new FrameDecodeError({ reason: "invalid", detail: "shorter than the length prefix" }))
  }
  const length = readLengthPrefix(frame, 0)
  if (length !== frame.length - LENGTH_PREFIX_BYTES) {
    return Result.fail(
      new FrameDecodeError({
        reason: "invalid",
        detail: `length prefix says ${length} bytes, ${frame.length - LENGTH_PREFIX_BYTES} follow`
      })
    )
  }
  return decodeBody(frame.subarray(LENGTH_PREFIX_BYTES))
}

/**
 * A cheap upper-bound-ish estimate of a message's frame size, without encoding it: what queues
 * use to bound their memory in bytes (payload bytes dominate; the rest is a small allowance).
 */
export const estimateFrameBytes = (message: Message): number => {
  switch (message._tag) {
    case "AppendEntries": {
      let bytes = 96
      for (const entry of message.entries) bytes += entry.data.length + 24
      return bytes
    }
    case "InstallSnapshot":
      return 128 + message.data.length
    case "ReadIndexRequest":
    case "ReadIndexResponse":
      return 96 + 10 * message.ids.length
    default:
      return 96
  }
}

/** Writes `length` as a 4-byte big-endian prefix at the start of `out`. */
export const writeLengthPrefix = (out: Uint8Array, length: number): void => {
  out[0] = (length >>> 24) & 0xff
  out[1] = (length >>> 16) & 0xff
  out[2] = (length >>> 8) & 0xff
  out[3] = length & 0xff
}

/** Reads a 4-byte big-endian length at `offset` (the caller checks 4 bytes are there). */
export const readLengthPrefix = (bytes: Uint8Array, offset: number): number =>
  ((bytes[offset]! << 24) >>> 0) + (bytes[offset + 1]! << 16) + (bytes[offset + 2]! << 8) + bytes[offset + 3]!

// Schema issues can be long (they echo input); a bounded detail keeps log lines sane.
const causeDetail = (cause: unknown): string => {
  const text = String(cause)
  return text.length > 300 ? `${text.slice(0, 300)}...` : text
}
