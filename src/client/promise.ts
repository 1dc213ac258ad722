/**
 * The Promise facade, for code that does not use Effect:
 *
 * ```ts
 * const kv = await connect({ endpoints: ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"] })
 * const { version } = await kv.put("greeting", "hello")
 * const entry = await kv.getString("greeting") // { value: "hello", version } or null
 * await kv.put("greeting", "hi", { expectedVersion: version })
 * await kv.close()
 * ```
 *
 * A failed call rejects with the same tagged error instance the Effect API fails with
 * (`VersionMismatch`, `Timeout`, `OutcomeUnknown`, ...): test `error._tag` or `instanceof`.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import type { BytesInput } from "./bytes.ts"
import type { DeleteError, GetError, PutError, StatusError } from "./errors.ts"
import {
  type CallOptions,
  type ClientInternals,
  type Entry,
  type KvClientShape,
  makeWithInternals,
  type NodeReport,
  type NodeStatus,
  type ReadOptions,
  type ReadResult,
  type WriteOptions
} from "./KvClient.ts"
import type { KvClientOptions } from "./options.ts"

/** A connected client. Each method's promise rejects with the error types named on it. */
export interface KvConnection {
  /** Rejects with {@link GetError}. */
  readonly read: (key: BytesInput, options?: ReadOptions) => Promise<ReadResult>
  /** Rejects with {@link GetError}. */
  readonly get: (key: BytesInput, options?: ReadOptions) => Promise<Entry<Uint8Array> | null>
  /** Rejects with {@link GetError}. */
  readonly getString: (key: BytesInput, options?: ReadOptions) => Promise<Entry<string> | null>
  /** Rejects with {@link PutError}. */
  readonly put: (
    key: BytesInput,
    value: BytesInput,
    options?: WriteOptions
  ) => Promise<{ readonly version: number }>
  /** Rejects with {@link DeleteError}. */
  readonly delete: (key: BytesInput, options?: WriteOptions) => Promise<{ readonly deleted: boolean }>
  /** Rejects with {@link StatusError}. */
  readonly nodeStatus: (endpoint: string, options?: CallOptions) => Promise<NodeStatus>
  readonly clusterStatus: (options?: CallOptions) => Promise<ReadonlyArray<NodeReport>>
  /** The node currently believed to lead, if any. */
  readonly leader: () => string | undefined
  /** Closes the session (best effort) and the connections. */
  readonly close: () => Promise<void>
  /** The underlying Effect client. */
  readonly client: KvClientShape
}

/** Runs `effect`; rejects with its typed error itself (not a wrapper). The per-key calls do not
 * come here: they run through `Calls.promise`, which needs no fiber beyond the call's own. */
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

// Re-exported for the signatures above.
export type { DeleteError, GetError, PutError, StatusError }

/**
 * A client for `options.endpoints`. Rejects with `InvalidClientOptions` for an empty or
 * malformed endpoint list; nodes are dialed on the first call.
 */
export const connect = async (options: KvClientOptions): Promise<KvConnection> => {
  const scope = Effect.runSync(Scope.make())
  let internals: ClientInternals
  try {
    internals = await run(makeWithInternals(options).pipe(Scope.provide(scope)))
  } catch (error) {
    await run(Scope.close(scope, Exit.void))
    throw error
  }
  const { client, calls, prepared } = internals
  return {
    read: (key, o) => calls.promise(prepared.read(key, o)),
    get: (key, o) => calls.promise(prepared.get(key, o)),
    getString: (key, o) => calls.promise(prepared.getString(key, o)),
    put: (key, value, o) => calls.promise(prepared.put(key, value, o)),
    delete: (key, o) => calls.promise(prepared.delete(key, o)),
    nodeStatus: (endpoint, o) => run(client.nodeStatus(endpoint, o)),
    clusterStatus: (o) => run(client.clusterStatus(o)),
    leader: client.leader,
    close: () => run(client.close.pipe(Effect.andThen(Scope.close(scope, Exit.void)))),
    client
  }
}
