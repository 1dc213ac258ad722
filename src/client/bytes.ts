/** Keys and values are bytes; the SDK also takes strings (UTF-8) and can return them. */

/** A key or value as the SDK takes it: bytes, or a string sent as its UTF-8 bytes. */
export type BytesInput = string | Uint8Array

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8")

export const toBytes = (input: BytesInput): Uint8Array =>
  typeof input === "string" ? encoder.encode(input) : input

/** UTF-8 text of `bytes` (invalid sequences become U+FFFD). */
export const toText = (bytes: Uint8Array): string => decoder.decode(bytes)
