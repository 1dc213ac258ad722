/**
 * Splits a byte stream into length-prefixed frames (4-byte big-endian length, then the body).
 *
 * The length is checked against the limit as soon as its 4 bytes are in, before any of the body
 * is buffered, so a hostile prefix cannot make the node allocate: at most one frame of
 * `maxFrameBytes` plus one read chunk is ever held.
 */
import { Result } from "effect"
import { LENGTH_PREFIX_BYTES, readLengthPrefix } from "./codec.ts"

/** Why the stream cannot be framed; the connection must be closed (framing is lost). */
export type FramingError =
  | { readonly _tag: "Oversized"; readonly length: number; readonly limit: number }
  | { readonly _tag: "EmptyFrame" }

const EMPTY = new Uint8Array(0)

/** An incremental frame splitter for one connection. */
export interface Framer {
  /**
   * Feeds the next chunk of the stream; returns the bodies of every frame it completes, in order.
   * The returned views are only valid until the next call (they may point into reused memory),
   * so decode them before pushing more. After an error the framer must not be used again.
   */
  readonly push: (chunk: Uint8Array) => Result.Result<ReadonlyArray<Uint8Array>, FramingError>
  /** Bytes of an incomplete frame currently held. */
  readonly buffered: () => number
}

/** Creates a framer that refuses frames whose body is longer than `maxFrameBytes`. */
export const makeFramer = (maxFrameBytes: number): Framer => {
  // Unconsumed bytes live in buffer[start, end). Empty between frames in the common case.
  let buffer: Uint8Array = EMPTY
  let start = 0
  let end = 0

  const append = (chunk: Uint8Array): void => {
    const held = end - start
    const needed = held + chunk.length
    if (needed > buffer.length - start) {
      if (needed > buffer.length) {
        const next = new Uint8Array(Math.max(needed, Math.min(buffer.length * 2, needed + 65_536)))
        next.set(buffer.subarray(start, end))
        buffer = next
      } else {
        buffer.copyWithin(0, start, end)
      }
      start = 0
      end = held
    }
    buffer.set(chunk, end)
    end += chunk.length
  }

  const push = (chunk: Uint8Array): Result.Result<ReadonlyArray<Uint8Array>, FramingError> => {
    // Parse straight from the chunk when nothing is held (no copy); otherwise from the buffer.
    const direct = end === start
    if (!direct) append(chunk)
    const bytes = direct ? chunk : buffer
    let pos = direct ? 0 : start
    const limit = direct ? chunk.length : end
    const frames: Array<Uint8Array> = []
    while (limit - pos >= LENGTH_PREFIX_BYTES) {
      const length = readLengthPrefix(bytes, pos)
      if (length > maxFrameBytes) return Result.fail({ _tag: "Oversized", length, limit: maxFrameBytes })
      if (length === 0) return Result.fail({ _tag: "EmptyFrame" })
      if (limit - pos - LENGTH_PREFIX_BYTES < length) break
      const bodyStart = pos + LENGTH_PREFIX_BYTES
      frames.push(bytes.subarray(bodyStart, bodyStart + length))
      pos = bodyStart + length
    }
    if (direct) {
      if (pos < limit) {
        // Keep the incomplete tail. It is copied, as the caller may reuse the chunk.
        start = end = 0
        append(chunk.subarray(pos))
      }
    } else {
      start = pos
      if (start === end) {
        start = end = 0
        // Drop a large buffer once it is drained so an idle connection holds nothing big.
        if (buffer.length > 65_536) buffer = EMPTY
      }
    }
    return Result.succeed(frames)
  }

  return { push, buffered: () => end - start }
}
