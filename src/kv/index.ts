/**
 * The KV application plane: the deterministic state machine, its log-entry command codec,
 * streaming snapshots and the client protocol.
 */
export * from "./command.ts"
export * from "./limits.ts"
export type * from "./results.ts"
export {
  ApplyOutOfOrder,
  type KvRecord,
  KvStateMachine
} from "./state-machine.ts"
export {
  SnapshotInProgress,
  SnapshotInvalid,
  type SnapshotRestorer,
  type SnapshotStream
} from "./snapshot.ts"
export * as Protocol from "./protocol.ts"
