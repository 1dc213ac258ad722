/**
 * The KV service a node offers on its client port: the handlers of the `KvApi` calls on top
 * of the Raft node (writes are proposals, linearizable reads go through ReadIndex) and the local
 * KV state machine (reads).
 */
import { Context, Effect, Layer, Result } from "effect"
import { encodeCommand, type Command as KvCommand } from "../kv/command.ts"
import { checkLimits } from "../kv/limits.ts"
import {
  Busy,
  deleteOutcome,
  type GetResponse,
  KeyTooLarge,
  type KvApi,
  LeadershipLost,
  limitError,
  NotLeader,
  putOutcome,
  ReadNotConfirmed
} from "../kv/protocol.ts"
import type { ApplyResult } from "../kv/results.ts"
import type { ProposeError, ReadError } from "../runtime/errors.ts"
import { requestObserver } from "../metrics/kv.ts"
import { MetricsSink } from "../metrics/MetricsSink.ts"
import { type Proposal, RaftNode } from "../runtime/RaftNode.ts"
import { KvMachine } from "./KvMachine.ts"

/** The calls of the client port, served by this node (the transport is `KvServer.ts`). */
export class KvHandlers extends Context.Service<KvHandlers, KvApi>()("raftkv/KvHandlers") {}

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

/** The answer to an OpenSession from its apply result. */
const sessionOpened = (p: Proposal) => {
  const r = p.result as ApplyResult
  return r._tag === "SessionOpened"
    ? Effect.succeed({ session: r.session })
    : Effect.die(new Error(`OpenSession applied as ${r._tag} (proposal bookkeeping bug)`))
}

const sessionClosed = (p: Proposal) => {
  const r = p.result as ApplyResult
  return Effect.succeed({ closed: r._tag === "SessionClosed" && r.closed })
}

/** A protocol answer as an effect (one allocation less than `Result.match`). */
const fromResult = <A, E>(r: Result.Result<A, E>): Effect.Effect<A, E> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

const putAnswer = (p: Proposal) => fromResult(putOutcome(p.result as ApplyResult))
const deleteAnswer = (p: Proposal) => fromResult(deleteOutcome(p.result as ApplyResult))

/**
 * The KV handlers. Each request is one `observe` (one clock read pair, one exit hook) around a
 * few combinators: no generators, no per-request metric lookups beyond the sink's own, and the
 * KV gauges are read when metrics are scraped instead of refreshed by every request.
 */
export const layerKvHandlers = (options: KvHandlersOptions) =>
  Layer.effect(
    KvHandlers,
    Effect.gen(function* () {
      const node = yield* RaftNode
      const kv = yield* KvMachine
      const metrics = yield* MetricsSink
      metrics.kvSizes({
        keys: () => kv.keyCount,
        sessions: () => kv.sessionCount,
        pendingProposals: () => Effect.runSync(node.counters).pendingProposals
      })
      const observeGet = requestObserver(metrics, "get")
      const observePut = requestObserver(metrics, "put")
      const observeDelete = requestObserver(metrics, "delete")
      const observeOpen = requestObserver(metrics, "open_session")
      const observeClose = requestObserver(metrics, "close_session")

      const toProtocol = proposalError(options)
      const proposalFailed = (e: ProposeError) => Effect.fail(toProtocol(e))
      const toReadError = readError(options)
      /** Propose `command` and answer from the result of applying it (or map the failure). */
      const propose = <A, E>(command: KvCommand, answer: (p: Proposal) => Effect.Effect<A, E>) =>
        Effect.matchEffect(node.propose(encodeCommand(command)), {
          onFailure: proposalFailed,
          onSuccess: answer
        })

      const keyTooLarge = (key: Uint8Array) =>
        new KeyTooLarge({ size: key.length, limit: kv.config.maxKeyBytes })
      /** A read of the local state machine, answered with the node's applied and commit indices. */
      const read = (key: Uint8Array) =>
        Effect.map(node.counters, (counters) => {
          const record = kv.get(key)
          return {
            entry: record === undefined ? null : { value: record.value, version: record.version },
            appliedIndex: kv.appliedIndex,
            commitIndex: counters.commitIndex
          }
        })
      const readFailed = (e: ReadError) => Effect.fail(toReadError(e))

      return KvHandlers.of({
        Get: (req) =>
          observeGet((): Effect.Effect<GetResponse, KeyTooLarge | ReadNotConfirmed> => {
            if (req.key.length > kv.config.maxKeyBytes) return Effect.fail(keyTooLarge(req.key))
            if (req.consistency !== "linearizable") return read(req.key)
            return Effect.matchEffect(node.readBarrier, {
              onFailure: readFailed,
              onSuccess: () => read(req.key)
            })
          }),
        Put: (req) =>
          observePut(() => {
            const limit = checkLimits(kv.config, req.key, req.value)
            if (limit !== undefined) return Effect.fail(limitError(limit))
            // The leader stamps every command with its clock: session expiry is decided in log time.
            return propose({ _tag: "Put", at: Date.now(), ...req }, putAnswer)
          }),
        Delete: (req) =>
          observeDelete(() => {
            if (req.key.length > kv.config.maxKeyBytes) return Effect.fail(keyTooLarge(req.key))
            return propose({ _tag: "Delete", at: Date.now(), ...req }, deleteAnswer)
          }),
        OpenSession: () => observeOpen(() => propose({ _tag: "OpenSession", at: Date.now() }, sessionOpened)),
        CloseSession: (req) =>
          observeClose(() =>
            propose({ _tag: "CloseSession", at: Date.now(), session: req.session }, sessionClosed)
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
