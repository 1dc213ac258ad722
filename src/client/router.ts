/**
 * Where the client sends its next call: the node it believes is the leader, or else the next of
 * the endpoints it knows, in turn. Pure bookkeeping (no I/O), shared by all calls of a client.
 *
 * Concurrent calls report on the same nodes: a report only moves the target when it is about
 * the current target, so ten calls failing on one dead node move past it once, not ten times.
 */
export class Router {
  private readonly known: string[]
  private leader: string | undefined
  private cursor = 0

  constructor(endpoints: ReadonlyArray<string>) {
    this.known = [...endpoints]
  }

  /** Every endpoint known so far: the configured ones, then the leaders hinted at. */
  get endpoints(): ReadonlyArray<string> {
    return this.known
  }

  /** The node believed to be the leader, if any. */
  get believedLeader(): string | undefined {
    return this.leader
  }

  /** Where the next call goes. */
  target(): string {
    return this.leader ?? this.known[this.cursor % this.known.length]!
  }

  /** `endpoint` answered a leader-only call: it is the leader. */
  confirmed(endpoint: string): void {
    this.leader = endpoint
  }

  /**
   * `from` says it is not the leader and names `hint` (or nobody). Returns true when the client
   * now targets another node it was told is the leader (worth retrying at once).
   */
  redirected(from: string, hint: string | undefined): boolean {
    const named = hint !== undefined && hint !== from
    if (named && !this.known.includes(hint)) this.known.push(hint)
    if (this.target() === from) {
      if (named) this.leader = hint
      else this.passOver(from)
    }
    return named && this.target() !== from
  }

  /** `from` cannot serve now (unreachable, no leader known): move on to the next endpoint. */
  passOver(from: string): void {
    if (this.target() !== from) return
    this.leader = undefined
    const at = this.known.indexOf(from)
    this.cursor = at < 0 ? this.cursor + 1 : at + 1
    if (this.cursor >= this.known.length) this.cursor = 0
  }
}
