/**
 * Client sessions for exactly-once writes (Raft dissertation 6.3), kept in log time.
 *
 * ## Dedup rule
 * Each session remembers the results of its recent writes by seq, and a `floor`: every seq the
 * session ever applied is either remembered or <= floor. So for a write (seq):
 * - a remembered seq returns its original result (a retry; nothing applied again);
 * - seq <= floor is a stale duplicate (StaleSequence; nothing applied);
 * - otherwise it was never applied: apply it and remember the result.
 * The client's `ack` (it holds every result <= ack) raises the floor and frees those results, and
 * at most `sessionResultWindow` results are kept (the lowest seqs are dropped first, raising the
 * floor). A client that keeps one write in flight and sends ack = seq - 1 therefore costs one
 * remembered result; a pipelining client may keep up to the window in flight, in any order.
 *
 * ## Expiry and eviction
 * A session expires when `now - lastActive > ttl`, with `now` the log time (the highest `at` seen).
 * The map is kept in lastActive order: a write moves its session to the back (log time never
 * decreases). So `sweep` pops expired sessions from the front and stops at the first live one,
 * and eviction (when `maxSessions` is reached) drops the front: the least recently active.
 * Everything depends only on the applied entries, so all replicas hold identical tables (and the
 * snapshot preserves the order).
 */
import type { WriteResult } from "./results.ts"

export interface Session {
  readonly id: number
  /** Log time of the last command on this session (non-decreasing along the map order). */
  lastActive: number
  /** Every applied seq is remembered or <= floor. */
  floor: number
  /** seq -> result, in apply order. */
  readonly results: Map<number, WriteResult>
}

export class SessionTable {
  readonly ttl: number
  readonly maxSessions: number
  readonly window: number
  /** In lastActive order. */
  readonly map = new Map<number, Session>()
  /** Id of the session at the back (touching it again needs no move). */
  private lastId = -1

  constructor(ttl: number, maxSessions: number, window: number) {
    this.ttl = ttl
    this.maxSessions = maxSessions
    this.window = window
  }

  get size(): number {
    return this.map.size
  }

  get(id: number): Session | undefined {
    return this.map.get(id)
  }

  /** Registers session `id` at log time `now`, evicting the least recently active when full. */
  open(id: number, now: number): void {
    if (this.map.size >= this.maxSessions) {
      const first = this.map.keys().next()
      if (first.done !== true) this.map.delete(first.value)
    }
    this.insert({ id, lastActive: now, floor: 0, results: new Map() })
  }

  /** Inserts at the back (the caller keeps lastActive non-decreasing along the map). */
  insert(session: Session): void {
    this.map.set(session.id, session)
    this.lastId = session.id
  }

  /** Marks `s` active at `now` (>= every lastActive in the table): it moves to the back. */
  touch(s: Session, now: number): void {
    s.lastActive = now
    if (s.id !== this.lastId) {
      this.map.delete(s.id)
      this.insert(s)
    }
  }

  close(id: number): boolean {
    return this.map.delete(id)
  }

  /** Drops every session expired at log time `now`. */
  sweep(now: number): void {
    const limit = now - this.ttl
    for (const s of this.map.values()) {
      if (s.lastActive >= limit) return
      this.map.delete(s.id)
    }
  }
  /**
   * Records the result of a newly applied `seq`, then frees what `ack` and the window allow.
   * Writes may apply out of seq order (retries after a failover, pipelining), so both steps go by
   * seq, not by apply order: every result <= ack is dropped, and on overflow the lowest seq goes
   * first - never an unacknowledged result while an acknowledged one is still kept.
   */
  remember(s: Session, seq: number, result: WriteResult, ack: number): void {
    const results = s.results
    results.set(seq, result)
    if (ack > s.floor) {
      s.floor = ack
      for (const k of results.keys()) if (k <= ack) results.delete(k)
    }
    while (results.size > this.window) {
      let lowest = Number.POSITIVE_INFINITY
      for (const k of results.keys()) if (k < lowest) lowest = k
      results.delete(lowest)
      if (lowest > s.floor) s.floor = lowest
    }
  }
}
