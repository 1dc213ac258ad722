/**
 * The schema of a list of log entries inside an AppendEntries: a plain guard over entry objects.
 *
 * It is part of the wire specification (`schema.ts`): whatever the frame decoder hands the core
 * satisfies it, and the encoder refuses what it refuses. The wire layout itself (headers, then
 * the data of all entries in one run) is in `messages.ts`.
 */
import { Schema } from "effect"
import type { Entry } from "../core/types.ts"

const isEntry = (u: unknown): u is Entry => {
  if (typeof u !== "object" || u === null) return false
  const e = u as { readonly term?: unknown; readonly kind?: unknown; readonly data?: unknown }
  return (
    typeof e.term === "number" &&
    Number.isSafeInteger(e.term) &&
    e.term >= 0 &&
    (e.kind === "noop" || e.kind === "command") &&
    e.data instanceof Uint8Array
  )
}

/** An array of log entries (terms safe integers >= 0, known kinds, byte data). */
export const EntryArray = Schema.declare(
  (u: unknown): u is ReadonlyArray<Entry> => Array.isArray(u) && u.every(isEntry),
  { identifier: "EntryArray", expected: "an array of log entries" }
)
