/**
 * The KV service a node offers on its client port: the handlers of the `KvRpcs` protocol on top
 * of the Raft node (writes are proposals, linearizable reads go through ReadIndex) and the local
 * KV state machine (reads).
 */
import { Effect, Result } from "effect"
import { encodeCommand, type Command as KvCommand } from "../kv/command.ts"
import { checkLimits } from "../kv/limits.ts"
import {
  Busy,
  deleteOutcome,
  KeyTooLarge,
  KvRpcs,
  LeadershipLost,
  limitError,
  NotLeader,
  putOutcome,
  ReadNotConfirmed
} from "../kv/protocol.ts"
import type { ApplyResult } from "../kv/results.ts"
import type { ProposeError, ReadError } from "../runtime/errors.ts"
import { observeRequest } from "../metrics/kv.ts"
import { MetricsSink } from "../metrics/MetricsSink.ts"
import { RaftNode } from "../runtime/RaftNode.ts"
import { KvMachine } from "./KvMachine.ts"

export interface KvHandlersOptions {
  /** Client addresses of the cluster's nodes by id, for NotLeader hints (may be partial). */
  readonly clientAddresses: ReadonlyMap<number, string>
}

const hint = (options: KvHandlersOptions, leader: number) => {
  const address = options.clientAddresses.get(leader)
  return address === undefined ? {} : { leaderHint: address }
}

/** Runtime proposal failures as protocol errors: all retryable (same session and seq). */
const proposalError = (options: KvHandlersOptions) => (e: ProposeError) => {
  switch (e._tag) {
    case "NotLeader":
      return new NotLeader(hint(options, e.leader))
    case "Busy":
    case "TransferInProgress":
      return new Busy()
    case "ProposalLost":
    case "OutcomeUnknown":
    case "NodeStopped":
      return new LeadershipLost({})
  }
}

const readError = (options: KvHandlersOptions) => (e: ReadError) => {
  if (e._tag === "NodeStopped") return new ReadNotConfirmed({ reason: "LeadershipLost" })
  const reason = e.reason === "NotLeader" || e.reason === "NoLeader" ? e.reason : "LeadershipLost"
  return new ReadNotConfirmed({ reason, ...hint(options, e.leader) })
}

export const layerKvHandlers = (options: KvHandlersOptions) =>
  KvRpcs.toLayer(
    Effect.gen(function* () {
      const node = yield* RaftNode
      const kv = yield* KvMachine
      const metrics = yield* MetricsSink
      /** Time and label one request, then refresh the KV gauges. */
      const observed = <A, E>(method: string, effect: Effect.Effect<A, E>) =>
        observeRequest(metrics, method, effect).pipe(
          Effect.ensuring(
            Effect.flatMap(node.counters, (c) =>
              Effect.sync(() => metrics.kvGauges(kv.keyCount, kv.sessionCount, c.pendingProposals))
            )
          )
        )
      const toProtocol = proposalError(options)
      // The leader stamps every command with its clock: session expiry is decided in log time.
      const propose = (command: KvCommand) =>
        node.propose(encodeCommand(command)).pipe(
          Effect.map((p) => p.result as ApplyResult),
          Effect.mapError(toProtocol)
        )
      return KvRpcs.of({
        Get: (req) =>
          observed(
            "get",
            Effect.gen(function* () {
              if (req.key.length > kv.config.maxKeyBytes) {
                return yield* new KeyTooLarge({ size: req.key.length, limit: kv.config.maxKeyBytes })
              }
              if (req.consistency === "linearizable")
                yield* Effect.mapError(node.readBarrier, readError(options))
              const record = kv.get(req.key)
              const counters = yield* node.counters
              return {
                entry: record === undefined ? null : { value: record.value, version: record.version },
                appliedIndex: kv.appliedIndex,
                commitIndex: counters.commitIndex
              }
            })
          ),
        Put: (req) =>
          observed(
            "put",
            Effect.gen(function* () {
              const limit = checkLimits(kv.config, req.key, req.value)
              if (limit !== undefined) return yield* limitError(limit)
              const result = yield* propose({ _tag: "Put", at: Date.now(), ...req })
              return yield* Result.match(putOutcome(result), {
                onSuccess: Effect.succeed,
                onFailure: Effect.fail
              })
            })
          ),
        Delete: (req) =>
          observed(
            "delete",
            Effect.gen(function* () {
              if (req.key.length > kv.config.maxKeyBytes) {
                return yield* new KeyTooLarge({ size: req.key.length, limit: kv.config.maxKeyBytes })
              }
              const result = yield* propose({ _tag: "Delete", at: Date.now(), ...req })
              return yield* Result.match(deleteOutcome(result), {
                onSuccess: Effect.succeed,
                onFailure: Effect.fail
              })
            })
          ),
        OpenSession: () =>
          observed(
            "open_session",
            propose({ _tag: "OpenSession", at: Date.now() }).pipe(
              Effect.flatMap((r) =>
                r._tag === "SessionOpened"
                  ? Effect.succeed({ session: r.session })
                  : Effect.die(new Error(`OpenSession applied as ${r._tag} (proposal bookkeeping bug)`))
              )
            )
          ),
        CloseSession: (req) =>
          observed(
            "close_session",
            propose({ _tag: "CloseSession", at: Date.now(), session: req.session }).pipe(
              Effect.map((r) => ({ closed: r._tag === "SessionClosed" && r.closed }))
            )
          ),
        Status: () =>
          Effect.map(node.status, (s) => ({
            id: s.id,
            role: s.role,
            term: s.term,
            leader: s.leader,
            commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex
          }))
      })
    })
  )
