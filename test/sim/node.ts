import type {
  Apply,
  CompactLog,
  Message,
  NodeId,
  Persist,
  PersistSnapshotChunk,
  RaftConfig,
  RaftState,
  ReadReady,
  RestoreSnapshot
} from "../../src/core/index.ts"
import { Disk } from "./disk.ts"
import { emptyMachine, type MachineState } from "./statemachine.ts"

/** A message waiting for a write to become durable (`Send.afterWrite`). */
export interface HeldMessage {
  readonly afterWrite: number
  readonly to: NodeId
  readonly message: Message
}

/** A state-machine command: they run in the order emitted (a restore waits for its write). */
export type MachineOp = Apply | RestoreSnapshot | ReadReady

/**
 * One simulated server: the core's state, its disk, its volatile runtime state (write queue,
 * held messages, timer, state machine) and its local clock. A crash wipes everything but `disk`.
 */
export class SimNode {
  readonly id: NodeId
  readonly config: RaftConfig
  readonly disk = new Disk()
  up = false
  /** Incremented at every crash and start; events of an older incarnation are ignored. */
  inc = 0
  state: RaftState | undefined = undefined

  /** Writes issued and not yet durable, in writeId order, with the compactions issued after
   * them (a compaction is not a write of its own: it runs when the write before it lands). */
  writes: Array<Persist | PersistSnapshotChunk | CompactLog> = []
  /** Highest writeId issued / made durable in this incarnation. */
  lastWriteId = -1
  durableWriteId = -1
  /** A disk completion event is scheduled. */
  diskScheduled = false
  held: HeldMessage[] = []

  /** The state machine: its state, the commands waiting to run, and the applied index it will
   * reach once they have (what the core's appliedIndex must equal). */
  machine: MachineState = emptyMachine
  machineOps: MachineOp[] = []
  queuedApplied = 0

  /** The requested timer (local time), when it is due in global time, and the queued event. */
  timerLocalAt = 0
  timerDue = Number.POSITIVE_INFINITY
  timerScheduled = Number.POSITIVE_INFINITY
  timerGen = 0

  /** Local clock: local = offset + (global - start) * rate, never going backwards. */
  clockRate = 1
  clockOffset = 0
  clockStart = 0
  lastNow = 0

  constructor(id: NodeId, config: RaftConfig) {
    this.id = id
    this.config = config
  }

  /** The local time at global time `global`. */
  localNow(global: number): number {
    const t = this.clockOffset + (global - this.clockStart) * this.clockRate
    if (t > this.lastNow) this.lastNow = t
    return this.lastNow
  }

  /** The global time at which the local clock reads `local`. */
  toGlobal(local: number): number {
    return this.clockStart + (local - this.clockOffset) / this.clockRate
  }

  /** Lose everything volatile. */
  crash(): void {
    this.up = false
    this.inc++
    this.state = undefined
    this.writes = []
    this.held = []
    this.diskScheduled = false
    this.machineOps = []
    this.timerDue = Number.POSITIVE_INFINITY
    this.timerScheduled = Number.POSITIVE_INFINITY
    this.machine = emptyMachine
    this.queuedApplied = 0
  }
}
