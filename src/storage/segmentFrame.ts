/**
 * One write batch of the segment log store as bytes: a frame.
 *
 * Layout: `length` (u32 big-endian, bytes of the body), `crc` (u32 big-endian, CRC-32 of the body),
 * then the body: an op count (varint) and the ops, each a tag byte and
 * - `1` put entry: index (varint), value (length-prefixed bytes);
 * - `2` delete entry: index (varint);
 * - `3` put meta: meta id (1 byte, see {@link META_NAMES}), value (length-prefixed bytes);
 * - `4` clear entries: from, to (varints; every stored entry in `from..to` is gone).
 *
 * A frame is written with one `write` call and fsynced before the batch counts as done, so after a
 * crash a frame is either whole (its CRC matches) or the torn tail of the last segment. Values are
 * the store codec's encodings (`codec.ts`), which carry their own checks.
 */
import { crc32 } from "node:zlib"
import { Reader, WireError, Writer } from "../transport/wire.ts"
import type { MetaName } from "./codec.ts"

/** A write batch's operations, in order. */
export type SegmentOp =
  | { readonly _tag: "PutEntry"; readonly index: number; readonly value: Uint8Array }
  | { readonly _tag: "DelEntry"; readonly index: number }
  | { readonly _tag: "PutMeta"; readonly name: MetaName; readonly value: Uint8Array }
  | { readonly _tag: "ClearEntries"; readonly from: number; readonly to: number }

/** Meta names by their id byte. */
export const META_NAMES: ReadonlyArray<MetaName> = ["format", "identity", "hardState", "snapshot"]

export const FRAME_HEADER_BYTES = 8

const PUT_ENTRY = 1
const DEL_ENTRY = 2
const PUT_META = 3
const CLEAR_ENTRIES = 4

/** The frame of `ops`, header included; encoded `into` a writer given, the result is a view of it,
 * valid until the writer is next used (the segment store writes each frame at once). */
export const encodeFrame = (ops: ReadonlyArray<SegmentOp>, into?: Writer): Uint8Array => {
  const w = into ?? new Writer(FRAME_HEADER_BYTES + 64 + ops.length * 16)
  w.reset()
  w.skip(FRAME_HEADER_BYTES)
  w.uvarint(ops.length, "op count")
  for (const op of ops) {
    switch (op._tag) {
      case "PutEntry":
        w.u8(PUT_ENTRY)
        w.uvarint(op.index, "entry index")
        w.bytes(op.value, "entry value")
        break
      case "DelEntry":
        w.u8(DEL_ENTRY)
        w.uvarint(op.index, "entry index")
        break
      case "PutMeta":
        w.u8(PUT_META)
        w.u8(META_NAMES.indexOf(op.name))
        w.bytes(op.value, "meta value")
        break
      case "ClearEntries":
        w.u8(CLEAR_ENTRIES)
        w.uvarint(op.from, "clear from")
        w.uvarint(op.to, "clear to")
        break
    }
  }
  const frame = into === undefined ? w.finish() : w.view()
  const body = frame.subarray(FRAME_HEADER_BYTES)
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  view.setUint32(0, body.length)
  view.setUint32(4, crc32(body))
  return frame
}

/** What reading a frame at some offset found. */
export type FrameRead =
  | { readonly _tag: "Frame"; readonly ops: ReadonlyArray<SegmentOp>; readonly end: number }
  /** The bytes from the offset on cannot be a whole frame: fewer than a header, or a length past the end. */
  | { readonly _tag: "Short" }
  /** A frame-sized region whose CRC or contents are wrong; `end` is where it claims to end. */
  | { readonly _tag: "Bad"; readonly reason: string; readonly end: number }

/** Read the frame starting at `offset` of `bytes` (values are copied out). */
export const readFrame = (bytes: Uint8Array, offset: number): FrameRead => {
  if (bytes.length - offset < FRAME_HEADER_BYTES) return { _tag: "Short" }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const length = view.getUint32(offset)
  const end = offset + FRAME_HEADER_BYTES + length
  if (end > bytes.length) return { _tag: "Short" }
  if (length === 0) return { _tag: "Bad", reason: "a frame of length 0", end }
  const body = bytes.subarray(offset + FRAME_HEADER_BYTES, end)
  if (crc32(body) !== view.getUint32(offset + 4)) return { _tag: "Bad", reason: "CRC mismatch", end }
  try {
    return { _tag: "Frame", ops: decodeBody(body), end }
  } catch (e) {
    // A body with a good CRC that does not parse was written by something else.
    return { _tag: "Bad", reason: e instanceof WireError ? e.message : String(e), end }
  }
}

const decodeBody = (body: Uint8Array): ReadonlyArray<SegmentOp> => {
  const r = new Reader(body)
  const n = r.count("op count", 2)
  const ops = new Array<SegmentOp>(n)
  for (let k = 0; k < n; k++) {
    const tag = r.u8("op tag")
    switch (tag) {
      case PUT_ENTRY: {
        const index = r.uvarint("entry index")
        ops[k] = { _tag: "PutEntry", index, value: r.bytes("entry value") }
        break
      }
      case DEL_ENTRY:
        ops[k] = { _tag: "DelEntry", index: r.uvarint("entry index") }
        break
      case PUT_META: {
        const id = r.u8("meta id")
        const name = META_NAMES[id]
        if (name === undefined) throw new WireError(`unknown meta id ${id}`)
        ops[k] = { _tag: "PutMeta", name, value: r.bytes("meta value") }
        break
      }
      case CLEAR_ENTRIES: {
        const from = r.uvarint("clear from")
        ops[k] = { _tag: "ClearEntries", from, to: r.uvarint("clear to") }
        break
      }
      default:
        throw new WireError(`unknown op tag ${tag}`)
    }
  }
  r.end()
  return ops
}
