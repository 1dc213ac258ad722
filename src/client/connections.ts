/**
 * One connection per node the client talks to, opened on first use and shared by every call to
 * that node: effect/rpc numbers each request, so many calls are in flight on one connection and
 * answers are matched to them in any order (pipelining).
 *
 * A connection that breaks fails the calls in flight on it (the caller retries elsewhere) and
 * redials in the background with backoff; until it is back, calls on it fail at once instead
 * of waiting. Pings on idle connections find a silent peer within `keepAliveMs`.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Deferred, Effect, Layer, Schedule, Scope } from "effect"
import { RpcClient, RpcSerialization } from "effect/rpc"
import { KvRpcs } from "../kv/protocol.ts"
import { parseEndpoint } from "./endpoint.ts"
import { NodeUnreachable } from "./errors.ts"

const makeRpcClient = RpcClient.make(KvRpcs, { disableTracing: true })

/** The typed RPC client of one node (its calls fail with `RpcClientError` when the connection does). */
export type KvRpcClient = Effect.Success<typeof makeRpcClient>

/** Largest frame accepted from a node; the server's own limit is 4 MiB (a 1 MiB value fits). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024

export interface ConnectionPool {
  /** The connection to `endpoint`, dialed on first use. Fails only for an endpoint that is not
   * host:port (a node's hint can be anything). */
  readonly get: (endpoint: string) => Effect.Effect<KvRpcClient, NodeUnreachable>
  /** The connection to `endpoint` if it is dialed and ready (the hot path: no Effect to run). */
  readonly ready: (endpoint: string) => KvRpcClient | undefined
}

export interface ConnectionOptions {
  readonly connectTimeoutMs: number
  readonly keepAliveMs: number
}

/** Redial delays of a broken connection: 50 ms doubling up to 1 s. */
const redial = Schedule.min([Schedule.exponential(50, 2), Schedule.spaced(1000)])

const connect = (endpoint: string, options: ConnectionOptions, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const address = parseEndpoint(endpoint)
    if (address === undefined) {
      return yield* new NodeUnreachable({ endpoint, reason: "not a host:port address" })
    }
    const protocol = RpcClient.layerProtocolSocket({
      pingInterval: options.keepAliveMs,
      retryPolicy: redial
    }).pipe(
      Layer.provide(RpcSerialization.layerSchemaBinary({ maxFrameSize: MAX_FRAME_BYTES })),
      Layer.provide(
        NodeSocket.layerNet({
          host: address.host,
          port: address.port,
          noDelay: true,
          openTimeout: options.connectTimeoutMs
        })
      )
    )
    const context = yield* Layer.buildWithScope(protocol, scope).pipe(
      Effect.mapError((e) => new NodeUnreachable({ endpoint, reason: e.message }))
    )
    return yield* makeRpcClient.pipe(Effect.provideContext(context), Scope.provide(scope))
  })

/** A pool whose connections live until `scope` closes. */
export const makePool = (options: ConnectionOptions): Effect.Effect<ConnectionPool, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const connections = new Map<string, Deferred.Deferred<KvRpcClient, NodeUnreachable>>()
    /** Clients ready for use: the hot path, without awaiting a Deferred. */
    const ready = new Map<string, KvRpcClient>()
    const get = (endpoint: string): Effect.Effect<KvRpcClient, NodeUnreachable> =>
      Effect.suspend(() => {
        const hit = ready.get(endpoint)
        if (hit !== undefined) return Effect.succeed(hit)
        const existing = connections.get(endpoint)
        if (existing !== undefined) return Deferred.await(existing)
        // Registered before any suspension, so concurrent first calls share one dial.
        const dialed = Deferred.makeUnsafe<KvRpcClient, NodeUnreachable>()
        connections.set(endpoint, dialed)
        return Scope.fork(scope).pipe(
          Effect.flatMap((child) => connect(endpoint, options, child)),
          Effect.tap((client) => Effect.sync(() => ready.set(endpoint, client))),
          Effect.exit,
          Effect.flatMap((exit) => Deferred.done(dialed, exit)),
          Effect.uninterruptible,
          Effect.andThen(Deferred.await(dialed))
        )
      })
    return { get, ready: (endpoint) => ready.get(endpoint) }
  })
