import { defaultConfig, type NodeId, type RaftConfig } from "../../src/core/index.ts"
import type { FaultOptions } from "./faults.ts"
import type { Prng } from "./prng.ts"

/**
 * Bugs the simulator can inject into its own runtime behaviour, to show that its checks catch
 * what a faulty runtime would do (the core itself is never touched):
 * - `send-before-durable`: ignore `Send.afterWrite` (messages leave before their write is durable).
 * - `forget-vote`: a crash also loses the durable vote (an fsync that lied).
 */
export type Injection = "send-before-durable" | "forget-vote"
export const injections: ReadonlyArray<Injection> = ["send-before-durable", "forget-vote"]

/** What shapes any seeded run, of this simulator or of one built on it (times are virtual ms). */
export interface RunOptions<I extends string> extends FaultOptions {
  readonly seed: number
  /** Cluster size (3, 5 or 7); 0 picks one from the seed. */
  readonly nodes: number
  /** Length of the safety phase (faults on). */
  readonly safetyMs: number
  /** Liveness bound, from the moment the faults end and the network heals. */
  readonly livenessMs: number
  /** Mean interval between two leadership transfer requests. */
  readonly transferEveryMs: number
  /** Abort the run (as a liveness failure) beyond this many core steps. */
  readonly maxSteps: number
  /** Bugs to inject, to show that the checks catch them. */
  readonly inject: ReadonlyArray<I>
  /** How many trace records to keep for a violation report. */
  readonly traceTail: number
  /** When set, every trace record is formatted and handed to it (--verbose). */
  readonly onTrace: ((line: string) => void) | undefined
}

/** Everything that shapes one simulated run. The liveness bound: after healing, a leader and a
 * fresh commit on every node within `livenessMs`. */
export interface SimOptions extends RunOptions<Injection> {
  /** Mean intervals of the random processes. */
  readonly proposeEveryMs: number
  readonly readEveryMs: number
  readonly snapshotEveryMs: number
}

export const defaultOptions: SimOptions = {
  seed: 1,
  nodes: 3,
  safetyMs: 10000,
  livenessMs: 10000,
  proposeEveryMs: 20,
  readEveryMs: 40,
  faultEveryMs: 300,
  snapshotEveryMs: 300,
  transferEveryMs: 1200,
  leaderFaultChance: 0.25,
  maxSteps: 2_000_000,
  inject: [],
  traceTail: 40,
  onTrace: undefined
}

/** Small virtual timeouts and tight windows, so that a few virtual seconds see many elections,
 * back-pressure and multi-chunk snapshots. Slightly varied per seed. */
export const simConfig = (id: NodeId, members: ReadonlyArray<NodeId>, rng: Prng): RaftConfig => ({
  ...defaultConfig(id, members),
  electionTimeoutMin: 150,
  electionTimeoutMax: 300,
  heartbeatInterval: rng.int(30, 51),
  maxEntriesPerMessage: rng.int(2, 17),
  maxBytesPerMessage: rng.int(128, 1025),
  maxInflightMessages: rng.int(1, 6),
  maxInflightBytes: rng.int(256, 4097),
  snapshotChunkBytes: rng.int(32, 129)
})
