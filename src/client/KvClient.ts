/**
 * The KV client as an Effect service: `KvClient`, built by {@link make} / {@link layer} from
 * {@link KvClientOptions}.
 *
 * - Follows the leader: writes and linearizable reads go to the node believed to lead, NotLeader
 *   hints are followed, nodes that fail are skipped (retry.ts, router.ts).
 * - One connection per node, shared by all calls, many calls in flight (connections.ts).
 * - Exactly-once writes: the client holds one session (opened on the first write); each write
 *   gets a seq it keeps through all its retries, so the cluster applies it once and answers a
 *   retry with the original result. On SessionExpired the client opens a new session: the write
 *   is then retried under it when no earlier attempt can have reached the log; otherwise it fails
 *   with `OutcomeUnknown` (sessions.ts).
 * - Every call has a deadline (`timeoutMs`, per client or per call) covering its retries; its
 *   expiry fails the call with `Timeout` - for a write, it may or may not have happened.
 * - `close` closes the session (best effort) and the connections; calls in flight or made later
 *   fail with `ClientClosed`.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import type { Consistency, NodeStatus as WireNodeStatus } from "../kv/protocol.ts"
import { Timeout } from "../kv/protocol.ts"
import { type BytesInput, toBytes, toText } from "./bytes.ts"
import { Calls, type Prepared } from "./calls.ts"
import { makePool, type NodeConnection } from "./connections.ts"
import {
  type ConnectionLost,
  type DeleteError,
  type GetError,
  type InvalidClientOptions,
  NodeUnreachable,
  OutcomeUnknown,
  type PutError,
  type StatusError
} from "./errors.ts"
import { type KvClientOptions, resolveOptions } from "./options.ts"
import { type Caller, describeAttemptError, type Retryable, retrying } from "./retry.ts"
import { Router } from "./router.ts"
import { makeSessions, type WriteSlot } from "./sessions.ts"

export type { Consistency } from "../kv/protocol.ts"

/** What `Status` reports about one node. */
export type NodeStatus = WireNodeStatus

/** A key's value and version. */
export interface Entry<V> {
  readonly value: V
  readonly version: number
}

/** A read with what the serving node said about its freshness. */
export interface ReadResult {
  /** null when the key is absent. */
  readonly entry: Entry<Uint8Array> | null
  /** The serving node's applied index when it read: the result reflects the log up to here. */
  readonly appliedIndex: number
  /** The highest commit index the serving node knew (for a stale read, it may miss entries up
   * to at least here). */
  readonly commitIndex: number
  /** The node that answered. */
  readonly endpoint: string
}

export interface CallOptions {
  /** Deadline of this call, retries included (default: the client's `timeoutMs`). Not a positive
   * number: the call dies with a RangeError (a programming error, not a cluster answer). */
  readonly timeoutMs?: number
}

export interface ReadOptions extends CallOptions {
  /** `linearizable` (default) reads through the leader's ReadIndex; `stale` reads any node's
   * applied state (faster, possibly behind). */
  readonly consistency?: Consistency
}

export interface WriteOptions extends CallOptions {
  /** Write only if the key's version is this (0 = only if absent); otherwise VersionMismatch.
   * Not a non-negative integer: the call dies with a RangeError. */
  readonly expectedVersion?: number
}

/** One node's status, or why it could not be had. */
export type NodeReport =
  | { readonly endpoint: string; readonly status: NodeStatus }
  | { readonly endpoint: string; readonly error: StatusError }

export interface KvClientShape {
  /** Reads `key` with details about the answering node. */
  readonly read: (key: BytesInput, options?: ReadOptions) => Effect.Effect<ReadResult, GetError>
  /** The key's value (bytes) and version, or null when absent. */
  readonly get: (key: BytesInput, options?: ReadOptions) => Effect.Effect<Entry<Uint8Array> | null, GetError>
  /** The key's value as UTF-8 text and version, or null when absent. */
  readonly getString: (
    key: BytesInput,
    options?: ReadOptions
  ) => Effect.Effect<Entry<string> | null, GetError>
  /** Writes `value`; answers the key's new version. */
  readonly put: (
    key: BytesInput,
    value: BytesInput,
    options?: WriteOptions
  ) => Effect.Effect<{ readonly version: number }, PutError>
  /** Deletes the key; `deleted` is false when it was already absent. */
  readonly delete: (
    key: BytesInput,
    options?: WriteOptions
  ) => Effect.Effect<{ readonly deleted: boolean }, DeleteError>
  /** One node's status (that node only: no redirection). Default deadline: 1 s. */
  readonly nodeStatus: (endpoint: string, options?: CallOptions) => Effect.Effect<NodeStatus, StatusError>
  /** The status of every known node, asked in parallel (default deadline 1 s each); never fails. */
  readonly clusterStatus: (options?: CallOptions) => Effect.Effect<ReadonlyArray<NodeReport>>
  /** The configured endpoints and any leader learned from hints. */
  readonly endpoints: () => ReadonlyArray<string>
  /** The node currently believed to lead, if any. */
  readonly leader: () => string | undefined
  /** Closes the session (best effort, within 1 s) and every connection. Idempotent. */
  readonly close: Effect.Effect<void>
}

export class KvClient extends Context.Service<KvClient, KvClientShape>()("raftkv/KvClient") {}

const STATUS_TIMEOUT_MS = 1000
const STATUS_RETRY_MS = 100
const CLOSE_SESSION_TIMEOUT_MS = 1000

/** Fails with Timeout when `effect` has not finished within `ms`. For the rare calls only
 * (OpenSession, CloseSession): it races two fibers; per-key calls run under `Calls` (calls.ts). */
const within = <A, E, R>(ms: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Timeout, R> =>
  Effect.timeoutOrElse(effect, {
    duration: ms,
    orElse: () => Effect.fail(new Timeout({ afterMs: Math.round(ms) }))
  })

const mapPrepared = <A, B, E>(prepared: Prepared<A, E>, f: (a: A) => B): Prepared<B, E> => ({
  effect: Effect.map(prepared.effect, f),
  ms: prepared.ms
})

/** A write to redo under a new session (its session expired before it can have been applied). */
const REDO: unique symbol = Symbol("raftkv/client/redo")

/** Write answers the write loop handles itself. */
type Answered = { readonly _tag: "SessionExpired" } | { readonly _tag: "StaleSequence" }

const isTagged = <T extends string>(u: unknown, tag: T): u is { readonly _tag: T } =>
  (u as { readonly _tag?: unknown } | null)?._tag === tag

/** The calls of a client, prepared but not run: the Promise facade runs them itself (calls.ts). */
export interface PreparedCalls {
  readonly read: (key: BytesInput, options?: ReadOptions) => Prepared<ReadResult, GetError>
  readonly get: (key: BytesInput, options?: ReadOptions) => Prepared<Entry<Uint8Array> | null, GetError>
  readonly getString: (key: BytesInput, options?: ReadOptions) => Prepared<Entry<string> | null, GetError>
  readonly put: (
    key: BytesInput,
    value: BytesInput,
    options?: WriteOptions
  ) => Prepared<{ version: number }, PutError>
  readonly delete: (key: BytesInput, options?: WriteOptions) => Prepared<{ deleted: boolean }, DeleteError>
}

/** Internal: the client and what the Promise facade needs to run its calls cheaply. */
export interface ClientInternals {
  readonly client: KvClientShape
  readonly calls: Calls
  readonly prepared: PreparedCalls
}

/**
 * A client for the lifetime of the scope (closing the scope closes it). Fails only on invalid
 * options; nothing is dialed until the first call.
 */
export const make = (
  options: KvClientOptions
): Effect.Effect<KvClientShape, InvalidClientOptions, Scope.Scope> =>
  Effect.map(makeWithInternals(options), (internals) => internals.client)

/** {@link make}, with the internals the Promise facade uses. */
export const makeWithInternals = (
  options: KvClientOptions
): Effect.Effect<ClientInternals, InvalidClientOptions, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = resolveOptions(options)
    if (!("endpoints" in resolved)) return yield* resolved
    const outer = yield* Effect.scope
    const scope = yield* Scope.fork(outer)
    const router = new Router(resolved.endpoints)
    const pool = yield* makePool(resolved).pipe(Scope.provide(scope))
    const caller: Caller = { options: resolved, router, pool }
    const calls = new Calls()

    /**
     * A call with its deadline, or, for a programming error in the call's options, a defect
     * (RangeError, not a cluster answer) run as it is. `effect` is built only for a valid call.
     */
    const prepare = <A, E>(
      call: (WriteOptions & ReadOptions) | undefined,
      effect: () => Effect.Effect<A, E>
    ): Prepared<A, E> => {
      const ms = call?.timeoutMs ?? resolved.timeoutMs
      if (!(Number.isFinite(ms) && ms > 0)) {
        return {
          effect: Effect.die(new RangeError(`timeoutMs must be a positive number, got ${ms}`)),
          ms: undefined
        }
      }
      const v = call?.expectedVersion
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) {
        return {
          effect: Effect.die(new RangeError(`expectedVersion must be a non-negative integer, got ${v}`)),
          ms: undefined
        }
      }
      return { effect: effect(), ms }
    }

    const openSession = within(
      resolved.timeoutMs,
      retrying(caller, "OpenSession", (rpc) => rpc.OpenSession(), { leaderOnly: true })
    ).pipe(Effect.map((answer) => answer.value.session))
    const sessions = makeSessions(openSession, resolved.maxWritesInFlight, scope)

    /**
     * One write under a slot: retried with the same (session, seq) until it has an answer. On
     * SessionExpired the slot's session is dropped; the write is redone under a new session only
     * if no attempt may have reached the log.
     */
    const write = <A, E>(
      operation: "Put" | "Delete",
      send: (slot: WriteSlot) => (node: NodeConnection) => Effect.Effect<A, E | ConnectionLost>
    ) => {
      type Failed = OutcomeUnknown | Exclude<Exclude<E, Retryable>, Answered>
      // Plain combinators, no generator: this runs for every write.
      const underSlot = (slot: WriteSlot) => {
        let uncertain = false
        const attempts = retrying(caller, operation, send(slot), {
          leaderOnly: true,
          onUncertain: () => {
            uncertain = true
          }
        })
        return Effect.catch(attempts, (error): Effect.Effect<typeof REDO, Failed> => {
          if (isTagged(error, "SessionExpired")) {
            sessions.expired(slot.session)
            if (!uncertain) return Effect.succeed(REDO)
            return Effect.fail(
              new OutcomeUnknown({ reason: "SessionExpired", session: slot.session.id, seq: slot.seq })
            )
          }
          if (isTagged(error, "StaleSequence")) {
            return Effect.fail(
              new OutcomeUnknown({ reason: "StaleSequence", session: slot.session.id, seq: slot.seq })
            )
          }
          return Effect.fail(error as Exclude<typeof error, Answered>)
        })
      }
      const loop = (): Effect.Effect<A, Failed | Timeout> =>
        Effect.flatMap(sessions.withSlot(underSlot), (answer) =>
          answer === REDO ? loop() : Effect.succeed(answer.value)
        )
      return loop()
    }

    const prepareRead = (key: BytesInput, call?: ReadOptions): Prepared<ReadResult, GetError> =>
      prepare(call, () => {
        const consistency = call?.consistency ?? "linearizable"
        const request = { key: toBytes(key), consistency }
        return retrying(caller, "Get", (rpc) => rpc.Get(request), {
          leaderOnly: consistency === "linearizable"
        }).pipe(
          Effect.map(({ value, endpoint }) => ({
            entry: value.entry,
            appliedIndex: value.appliedIndex,
            commitIndex: value.commitIndex,
            endpoint
          }))
        )
      })

    const read = (key: BytesInput, call?: ReadOptions): Effect.Effect<ReadResult, GetError> =>
      calls.run(prepareRead(key, call))

    const prepareGet = (key: BytesInput, call?: ReadOptions) =>
      mapPrepared(prepareRead(key, call), (r) => r.entry)

    const prepareGetString = (key: BytesInput, call?: ReadOptions) =>
      mapPrepared(prepareRead(key, call), (r) =>
        r.entry === null ? null : { value: toText(r.entry.value), version: r.entry.version }
      )

    const get = (key: BytesInput, call?: ReadOptions) => calls.run(prepareGet(key, call))

    const getString = (key: BytesInput, call?: ReadOptions) => calls.run(prepareGetString(key, call))

    const expected = (call: WriteOptions | undefined) =>
      call?.expectedVersion === undefined ? {} : { expectedVersion: call.expectedVersion }

    const preparePut = (
      key: BytesInput,
      value: BytesInput,
      call?: WriteOptions
    ): Prepared<{ version: number }, PutError> =>
      prepare(call, () => {
        const fields = { key: toBytes(key), value: toBytes(value), ...expected(call) }
        return write(
          "Put",
          (slot) => (rpc) =>
            rpc.Put({ session: slot.session.id, seq: slot.seq, ack: slot.session.ack, ...fields })
        )
      })

    const prepareDelete = (
      key: BytesInput,
      call?: WriteOptions
    ): Prepared<{ deleted: boolean }, DeleteError> =>
      prepare(call, () => {
        const fields = { key: toBytes(key), ...expected(call) }
        return write(
          "Delete",
          (slot) => (rpc) =>
            rpc.Delete({ session: slot.session.id, seq: slot.seq, ack: slot.session.ack, ...fields })
        )
      })

    const put = (key: BytesInput, value: BytesInput, call?: WriteOptions) =>
      calls.run(preparePut(key, value, call))

    const remove = (key: BytesInput, call?: WriteOptions) => calls.run(prepareDelete(key, call))

    const nodeStatus = (endpoint: string, call?: CallOptions): Effect.Effect<NodeStatus, StatusError> =>
      Effect.suspend(() => {
        let last: string | undefined
        // Retry a refused or broken connection until the deadline, then name the last reason.
        const attempt = Effect.gen(function* () {
          while (true) {
            const result = yield* Effect.result(
              pool.get(endpoint).pipe(Effect.flatMap((rpc) => rpc.Status()))
            )
            if (result._tag === "Success") return result.success
            last = describeAttemptError(result.failure)
            yield* Effect.sleep(STATUS_RETRY_MS)
          }
        })
        const ms = call?.timeoutMs ?? STATUS_TIMEOUT_MS
        return calls
          .run({ effect: attempt, ms })
          .pipe(
            Effect.mapError((e) =>
              e._tag === "Timeout" && last !== undefined ? new NodeUnreachable({ endpoint, reason: last }) : e
            )
          )
      })

    const clusterStatus = (call?: CallOptions) =>
      Effect.forEach(
        [...router.endpoints],
        (endpoint) =>
          nodeStatus(endpoint, call).pipe(
            Effect.match({
              onSuccess: (status): NodeReport => ({ endpoint, status }),
              onFailure: (error): NodeReport => ({ endpoint, error })
            })
          ),
        { concurrency: "unbounded" }
      )

    const close = Effect.suspend(() => {
      if (calls.closed) return Effect.void
      calls.refuseNew()
      const session = sessions.current()
      const closeSession =
        session === undefined
          ? Effect.void
          : within(
              CLOSE_SESSION_TIMEOUT_MS,
              retrying(caller, "CloseSession", (rpc) => rpc.CloseSession({ session: session.id }), {
                leaderOnly: true
              })
            ).pipe(Effect.ignore)
      return closeSession.pipe(
        Effect.andThen(Effect.sync(() => calls.stopAll())),
        Effect.andThen(Scope.close(scope, Exit.void))
      )
    })
    yield* Effect.addFinalizer(() => close)

    const client = KvClient.of({
      read,
      get,
      getString,
      put,
      delete: remove,
      nodeStatus,
      clusterStatus,
      endpoints: () => router.endpoints,
      leader: () => router.believedLeader,
      close
    })
    const prepared: PreparedCalls = {
      read: prepareRead,
      get: prepareGet,
      getString: prepareGetString,
      put: preparePut,
      delete: prepareDelete
    }
    return { client, calls, prepared }
  })

/** The client as a layer: closed (session and connections) when the layer's scope closes. */
export const layer = (options: KvClientOptions): Layer.Layer<KvClient, InvalidClientOptions> =>
  Layer.effect(KvClient, make(options))
