import type { NodeId } from "./types.ts"

/** Static settings of one Raft node. Durations are in the same unit as events' `now` (ms). */
export interface RaftConfig {
  readonly id: NodeId
  /** Every voting member, including this node. */
  readonly members: ReadonlyArray<NodeId>
  /** The election timeout is drawn uniformly from [min, max) at every reset (paper 5.2). */
  readonly electionTimeoutMin: number
  readonly electionTimeoutMax: number
  /** How often a leader sends heartbeats; well below electionTimeoutMin (paper 5.2, 9.3). */
  readonly heartbeatInterval: number
  /** Bounds on one AppendEntries message. */
  readonly maxEntriesPerMessage: number
  readonly maxBytesPerMessage: number
  /** Bounds on un-acknowledged AppendEntries per follower in replicate mode (10.2.2). */
  readonly maxInflightMessages: number
  readonly maxInflightBytes: number
  /** Bytes per InstallSnapshot chunk (dissertation 5.3). */
  readonly snapshotChunkBytes: number
  /** PreVote (dissertation 9.6) and CheckQuorum (6.2); both on by default. */
  readonly preVote: boolean
  readonly checkQuorum: boolean
}

export const defaultConfig = (id: NodeId, members: ReadonlyArray<NodeId>): RaftConfig => ({
  id,
  members,
  electionTimeoutMin: 1000,
  electionTimeoutMax: 2000,
  heartbeatInterval: 100,
  maxEntriesPerMessage: 512,
  maxBytesPerMessage: 1024 * 1024,
  maxInflightMessages: 64,
  maxInflightBytes: 8 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  preVote: true,
  checkQuorum: true
})
