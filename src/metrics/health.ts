/**
 * Node health, derived from the same runtime reports as the metrics.
 *
 * A node is healthy when it knows a leader and has applied everything that was committed when it
 * learned of that leader: it is then part of a working cluster and has caught up with it. A node
 * cut off from the majority loses its leader (a follower campaigns and forgets it; a leader steps
 * down through CheckQuorum) and turns unhealthy; after a heal it learns the leader again and turns
 * healthy once it has applied what was committed at that moment.
 */
import { Context } from "effect"
import type { RaftState } from "../core/state.ts"
import { NONE, type NodeId, type Role } from "../core/types.ts"
import { type MetricsSinkShape, noopSink } from "./MetricsSink.ts"

export interface HealthReport {
  readonly healthy: boolean
  /** `ok`, or why the node is not healthy. */
  readonly reason: string
  readonly role: Role
  readonly term: number
  readonly leader: NodeId | null
  readonly commitIndex: number
  readonly appliedIndex: number
  /** The commit index when this node learned of its current leader (null while unknown). */
  readonly requiredIndex: number | null
}

export interface NodeHealthShape {
  readonly report: () => HealthReport
}

/** The health of this node. */
export class NodeHealth extends Context.Service<NodeHealth, NodeHealthShape>()("raftkv/NodeHealth") {}

/** Follows the runtime's reports (as a MetricsSink) and answers health reports. */
export class HealthTracker implements NodeHealthShape {
  private started = false
  private role: Role = "follower"
  private term = 0
  private leader: NodeId = NONE
  private commitIndex = 0
  private appliedIndex = 0
  /** The commit index to reach, fixed at the end of the turn in which the leader became known. */
  private required: number | undefined = undefined
  private learning = false

  /** The part of the MetricsSink this tracker listens to. */
  readonly sink: MetricsSinkShape = {
    ...noopSink,
    roleChanged: (role, term, leader) => {
      if (leader !== this.leader || term !== this.term) {
        this.required = undefined
        this.learning = leader !== NONE
      }
      this.role = role
      this.term = term
      this.leader = leader
    },
    turn: (_batch, _queued, state: RaftState) => {
      this.started = true
      this.role = state.role
      this.term = state.term
      this.leader = state.leader
      this.commitIndex = state.commitIndex
      this.appliedIndex = state.appliedIndex
      if (this.learning) {
        this.required = state.commitIndex
        this.learning = false
      }
    }
  }

  readonly report = (): HealthReport => {
    const required = this.required
    const base = {
      role: this.role,
      term: this.term,
      leader: this.leader === NONE ? null : this.leader,
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      requiredIndex: required ?? null
    }
    if (!this.started) return { ...base, healthy: false, reason: "starting" }
    if (this.leader === NONE || required === undefined) {
      return { ...base, healthy: false, reason: `no leader known (${this.role} in term ${this.term})` }
    }
    if (this.appliedIndex < required) {
      return {
        ...base,
        healthy: false,
        reason: `catching up: applied ${this.appliedIndex} of the ${required} committed when leader ${this.leader} became known`
      }
    }
    return { ...base, healthy: true, reason: "ok" }
  }
}
