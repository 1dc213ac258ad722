import type { NodeId } from "../../src/core/index.ts"
import type { Prng } from "./prng.ts"

/** How the simulated network treats a message (changed by fault events). */
export interface NetworkProfile {
  /** Fixed part of the one-way delay (ms). */
  readonly baseDelay: number
  /** Mean of the exponential part of the delay (ms); its tail reorders messages. */
  readonly jitter: number
  /** Probability a message is lost. */
  readonly loss: number
  /** Probability a message is delivered twice (the copy has its own delay). */
  readonly duplicate: number
  /** Probability a message is held up for a long time (up to `slowDelay` ms): strong reordering. */
  readonly slow: number
  readonly slowDelay: number
}

/** The healed network of the liveness phase: no loss, no duplication, short delays. */
export const calmNetwork: NetworkProfile = {
  baseDelay: 1,
  jitter: 2,
  loss: 0,
  duplicate: 0,
  slow: 0,
  slowDelay: 0
}

/** A random faulty profile for the safety phase. */
export const randomProfile = (rng: Prng): NetworkProfile => ({
  baseDelay: rng.range(0.5, 3),
  jitter: rng.range(0.5, 10),
  loss: rng.chance(0.3) ? 0 : rng.range(0, 0.25),
  duplicate: rng.chance(0.5) ? 0 : rng.range(0, 0.08),
  slow: rng.chance(0.5) ? 0 : rng.range(0, 0.04),
  slowDelay: rng.range(50, 400)
})

/**
 * Links between nodes, each direction separately: `blocked[from][to]` drops everything sent from
 * `from` to `to` (checked when a message is sent and again when it would arrive, so a partition
 * also swallows what was in flight).
 */
export class Network {
  profile: NetworkProfile = calmNetwork
  private readonly blocked: boolean[][]
  private readonly ids: ReadonlyArray<NodeId>

  constructor(ids: ReadonlyArray<NodeId>) {
    this.ids = ids
    const max = Math.max(...ids) + 1
    this.blocked = Array.from({ length: max }, () => new Array<boolean>(max).fill(false))
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked[from]![to]!
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked[from]![to] = true
  }

  healAll(): void {
    for (const row of this.blocked) row.fill(false)
  }

  /** Is any link blocked? */
  partitioned(): boolean {
    return this.blocked.some((row) => row.some((b) => b))
  }

  /** Split the nodes into two sides that cannot talk (both directions). */
  splitSymmetric(side: ReadonlySet<NodeId>): void {
    for (const a of this.ids) {
      for (const b of this.ids) if (side.has(a) !== side.has(b)) this.block(a, b)
    }
  }

  /** The delays of the copies of one message: [] when lost, two entries when duplicated. */
  deliveries(rng: Prng): number[] {
    const p = this.profile
    if (p.loss > 0 && rng.chance(p.loss)) return []
    const one = (): number =>
      p.baseDelay + rng.exp(p.jitter) + (p.slow > 0 && rng.chance(p.slow) ? rng.range(0, p.slowDelay) : 0)
    return p.duplicate > 0 && rng.chance(p.duplicate) ? [one(), one()] : [one()]
  }
}
