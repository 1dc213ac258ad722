/**
 * One client session's write numbering (pure bookkeeping).
 *
 * Every write takes the next seq and keeps it through all its retries. `ack` is the highest seq
 * such that every seq <= it is finished: its result was delivered to the caller, or the caller
 * gave up on it (timeout) and will never retry it. Writes send `ack`, so the servers can forget
 * those results; a late copy of a given-up write then meets StaleSequence instead of applying.
 * Since `ack` < every unfinished seq, a retry is never refused as stale because of our own ack.
 *
 * The servers remember a bounded number of un-acknowledged results per session, so at most
 * `window` seqs may be handed out beyond `ack`.
 */
export class ClientSession {
  readonly id: number
  readonly window: number
  private nextSeq = 1
  private acked = 0
  /** Finished seqs above `acked` (waiting for a lower one to finish). */
  private readonly finished = new Set<number>()

  constructor(id: number, window: number) {
    this.id = id
    this.window = window
  }

  /** Every seq <= ack is finished. */
  get ack(): number {
    return this.acked
  }

  /** Seqs handed out and not yet covered by `ack`. */
  get outstanding(): number {
    return this.nextSeq - 1 - this.acked
  }

  /** A fresh seq, or undefined when `window` seqs are already outstanding. */
  allocate(): number | undefined {
    if (this.outstanding >= this.window) return undefined
    return this.nextSeq++
  }

  /** Marks `seq` finished (answered or given up); advances `ack` over every finished prefix. */
  finish(seq: number): void {
    if (seq <= this.acked || seq >= this.nextSeq) return
    this.finished.add(seq)
    while (this.finished.delete(this.acked + 1)) this.acked++
  }
}
