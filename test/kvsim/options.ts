/**
 * Options of a KV simulation run, and the per-seed settings drawn from the seed.
 */
import type { KvConfig } from "../../src/kv/limits.ts"
import type { RunOptions } from "../sim/options.ts"
import { Prng } from "../sim/prng.ts"

/**
 * Bugs a run can inject, to show that the checks catch them (src/ is never touched):
 * - `stale-reads`: nodes serve linearizable gets from their local state at once, without ReadIndex;
 * - `lose-write`: the state machine answers some puts (those at an index divisible by 7) with the
 *   version they would get, but does not store them (on every replica alike);
 * - `new-seq-on-retry`: the client gives every retry of a write a fresh seq (no exactly-once).
 */
export type KvInjection = "stale-reads" | "lose-write" | "new-seq-on-retry"
export const kvInjections: ReadonlyArray<KvInjection> = ["stale-reads", "lose-write", "new-seq-on-retry"]

/** Options of a KV run. `nodes` 0 picks 3, 3 or 5 from the seed; the liveness bound
 * (`livenessMs`, after healing) covers the final reads being answered and the replicas converging. */
export interface KvSimOptions extends RunOptions<KvInjection> {
  /** Clients (each with its own session); 0 picks 4-6 from the seed. */
  readonly clients: number
  /** Keys the clients share; 0 picks 2-5 from the seed. */
  readonly keys: number
  /** After healing, clients keep working this long before they stop and the final reads run. */
  readonly healMs: number
  /** Probability that every node crashes and restarts when the faults end. */
  readonly fullRestartChance: number
  /** Mean pause between two ops of one client slot. */
  readonly thinkMs: number
  /** Deadline of one client op, retries included; 0 picks 800-2500 ms from the seed. */
  readonly opTimeoutMs: number
  /** Budget of the linearizability check (search steps over all keys): deterministic. */
  readonly checkSteps: number
}

export const defaultKvOptions: KvSimOptions = {
  seed: 1,
  nodes: 0,
  clients: 0,
  keys: 0,
  safetyMs: 8000,
  healMs: 800,
  livenessMs: 10000,
  faultEveryMs: 300,
  transferEveryMs: 1200,
  leaderFaultChance: 0.25,
  fullRestartChance: 0.3,
  thinkMs: 10,
  opTimeoutMs: 0,
  checkSteps: 20_000_000,
  maxSteps: 3_000_000,
  inject: [],
  traceTail: 40,
  onTrace: undefined
}

/** Settings of one run drawn from its seed (what `options` leaves at 0 included). */
export interface KvSettings {
  readonly nodes: number
  readonly clients: number
  readonly keys: number
  readonly opTimeoutMs: number
  /** Most ops of one client in flight at once (they share its session). */
  readonly clientWindow: number
  /** Writes a client may have outstanding on its session (seq - ack), as the SDK's
   * maxWritesInFlight: half the servers' result window. */
  readonly sessionWindow: number
  readonly kv: Partial<KvConfig>
  /** Applied log bytes after which a node snapshots (as `--snapshot-threshold`). */
  readonly snapshotThresholdBytes: number
  /** Chunk size of the KV snapshot stream. */
  readonly snapshotChunkBytes: number
  /** A node answers Busy beyond this many pending proposals. */
  readonly maxPendingProposals: number
  /** Bytes of padding after each put's unique value (so records span snapshot chunks). */
  readonly valuePad: number
}

const clusterSizes = [3, 3, 5] as const

/** The per-seed settings: small snapshot thresholds, and now and then short session lifetimes,
 * few session slots or a small result window, so expiry, eviction and the window are exercised. */
export const settingsFor = (o: KvSimOptions): KvSettings => {
  const rng = new Prng(o.seed, 0x6b76)
  const nodes = o.nodes > 0 ? o.nodes : rng.pick(clusterSizes)
  const clients = o.clients > 0 ? o.clients : rng.int(4, 7)
  const keys = o.keys > 0 ? o.keys : rng.int(2, 6)
  const opTimeoutMs = o.opTimeoutMs > 0 ? o.opTimeoutMs : Math.round(rng.range(800, 2500))
  const sessionTtlMs = rng.chance(0.25) ? Math.round(rng.range(1500, 4000)) : undefined
  const maxSessions = rng.chance(0.2) ? clients + 1 : undefined
  const sessionResultWindow = rng.chance(0.25) ? 8 : 128
  const kv: Partial<KvConfig> = {
    sessionResultWindow,
    ...(sessionTtlMs === undefined ? {} : { sessionTtlMs }),
    ...(maxSessions === undefined ? {} : { maxSessions })
  }
  return {
    nodes,
    clients,
    keys,
    opTimeoutMs,
    clientWindow: rng.int(1, 5),
    sessionWindow: Math.min(64, sessionResultWindow / 2),
    kv,
    snapshotThresholdBytes: rng.int(150, 2000),
    snapshotChunkBytes: rng.int(64, 257),
    maxPendingProposals: rng.int(4, 33),
    valuePad: rng.chance(0.4) ? rng.int(50, 600) : 0
  }
}
