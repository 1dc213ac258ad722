/**
 * Mutable counters behind `Transport.stats` (one instance per transport; single-threaded, so plain
 * fields suffice).
 */
import type { RejectReason, TransportStats } from "./transport.ts"

export interface Counters {
  readonly rejected: Record<RejectReason, number>
  sent: number
  received: number
  connects: number
}

export const makeCounters = (): Counters => ({
  rejected: {
    oversized: 0,
    malformed: 0,
    "wrong-cluster": 0,
    "wrong-recipient": 0,
    "unknown-sender": 0,
    "queue-full": 0,
    unreachable: 0
  },
  sent: 0,
  received: 0,
  connects: 0
})

/** An immutable copy of the counters, with the current outbound queue depth. */
export const snapshot = (c: Counters, queued: number, queuedBytes: number): TransportStats => ({
  rejected: { ...c.rejected },
  sent: c.sent,
  received: c.received,
  queued,
  queuedBytes,
  connects: c.connects
})
