/**
 * The TCP layer of {@link Transport}.
 *
 * The node listens on its own entry of `peers` and dials every other peer at exactly the address
 * listed there: nothing else wires the cluster, so a proxy may stand between any two nodes. There
 * is one connection per direction: messages to a peer always go over this node's outbound
 * connection to it (see `tcp-outbound.ts`), and connections accepted by the listener are only read
 * (see `tcp-inbound.ts`).
 *
 * Built on effect/socket with @effect/platform-node (`NodeSocketServer.make`, `NodeSocket.makeNet`):
 * measured on par with plain `node:net` between processes (see /work/shared/EFFECT4-NOTES.md), and
 * it gives scoped sockets, paused reads with end-to-end backpressure, and corked `writeAll`.
 */
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { Duration, Effect, Layer, Queue, Schema, type Scope } from "effect"
import type * as SocketServer from "effect/socket/SocketServer"
import type { Envelope, NodeId } from "../core/types.ts"
import { LENGTH_PREFIX_BYTES, MAX_LENGTH_PREFIX } from "./codec.ts"
import { AddressInUse, InvalidTransportConfig, ListenFailed } from "./errors.ts"
import { ClusterId, NodeId as NodeIdSchema } from "./schema-primitives.ts"
import { makeCounters, snapshot } from "./stats.ts"
import { serveConnection } from "./tcp-inbound.ts"
import { makePeerLink, type PeerAddress, type PeerLink } from "./tcp-outbound.ts"
import { Transport, type TransportShape } from "./transport.ts"

export type { PeerAddress } from "./tcp-outbound.ts"

export interface TcpTransportOptions {
  /** Stamped on every frame; frames of another cluster are refused. */
  readonly clusterId: string
  readonly self: NodeId
  /** Every member's peer address, this node's included (it listens there). */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>
  /** Largest frame body accepted or sent, in bytes. Default 16 MiB. Must exceed the core's
   * `maxBytesPerMessage` and `snapshotChunkBytes` plus framing overhead. */
  readonly maxFrameBytes?: number
  /** Envelopes waiting per peer before the oldest is dropped. Default 4096. */
  readonly maxQueuedFrames?: number
  /** Estimated payload bytes waiting per peer before the oldest is dropped. Default 64 MiB. */
  readonly maxQueuedBytes?: number
  /** Capacity of `incoming`; when full, readers wait (TCP backpressure). Default 4096. */
  readonly maxIncomingFrames?: number
  /** Inbound connections served at once; further ones are closed on arrival. Default 64. */
  readonly maxInboundConnections?: number
  /** Most frames written per socket write. Default 256. */
  readonly maxBatchFrames?: number
  /** Redial delay bounds: exponential from `min` to `max`, with jitter. Default 50 ms .. 2 s. */
  readonly reconnect?: { readonly min: Duration.Input; readonly max: Duration.Input }
  /** Give up a dial attempt after this long. Default 2 s. */
  readonly connectTimeout?: Duration.Input
}

/** A running TCP transport; `address` is where it actually listens (resolves port 0). */
export interface TcpTransport extends TransportShape {
  readonly address: PeerAddress
}

export type TcpTransportError = AddressInUse | ListenFailed | InvalidTransportConfig

const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

const invalid = (detail: string) => Effect.fail(new InvalidTransportConfig({ detail }))

const positiveInt = (n: number) => Number.isSafeInteger(n) && n > 0
const isClusterId = Schema.is(ClusterId)
const isNodeId = Schema.is(NodeIdSchema)

/**
 * Opens a TCP listener at `address` for the lifetime of the scope, as an effect/socket
 * `SocketServer`. A taken address fails with {@link AddressInUse}; any other listen failure with
 * {@link ListenFailed}. Shared by the peer transport and the client port.
 */
export const listen = (
  address: PeerAddress
): Effect.Effect<SocketServer.SocketServer["Service"], AddressInUse | ListenFailed, Scope.Scope> =>
  // No Nagle on accepted connections either (replies are small and latency-bound; Go, and so
  // etcd, does the same by default): 1-client p50 lower or equal in 3 alternating pairs.
  NodeSocketServer.make({ host: address.host, port: address.port, noDelay: true }).pipe(
    Effect.mapError((error: SocketServer.SocketServerError): AddressInUse | ListenFailed => {
      const cause = (error.reason as { readonly cause?: unknown }).cause
      const code = (cause as { readonly code?: unknown } | undefined)?.code
      if (code === "EADDRINUSE") return new AddressInUse({ host: address.host, port: address.port })
      const detail = cause instanceof Error ? cause.message : String(cause ?? error.message)
      return new ListenFailed({ host: address.host, port: address.port, detail })
    })
  )

/**
 * Starts the transport for the lifetime of the scope: listener, inbound handlers and one link per
 * peer. Fails with {@link AddressInUse} when the node's own address is taken.
 */
export const makeTcp = (
  options: TcpTransportOptions
): Effect.Effect<TcpTransport, TcpTransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const { self, peers, clusterId } = options
    const own = peers.get(self)
    if (own === undefined) return yield* invalid(`node ${self} has no entry in peers`)
    if (!isClusterId(clusterId)) return yield* invalid("the cluster id must have 1 to 255 characters")
    const badId = [...peers.keys()].find((id) => !isNodeId(id))
    if (badId !== undefined) return yield* invalid(`node id ${badId} is not an integer in 1..2^31-1`)
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const maxQueuedFrames = options.maxQueuedFrames ?? 4096
    const maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024
    const maxIncomingFrames = options.maxIncomingFrames ?? 4096
    const maxBatchFrames = options.maxBatchFrames ?? 256
    const maxConnections = options.maxInboundConnections ?? 64
    if (!positiveInt(maxFrameBytes) || maxFrameBytes > MAX_LENGTH_PREFIX - LENGTH_PREFIX_BYTES) {
      return yield* invalid(`maxFrameBytes ${maxFrameBytes} out of range`)
    }
    if (
      ![maxQueuedFrames, maxQueuedBytes, maxIncomingFrames, maxBatchFrames, maxConnections].every(positiveInt)
    ) {
      return yield* invalid("queue, batch and connection limits must be positive integers")
    }
    const reconnectMinMillis = Duration.toMillis(options.reconnect?.min ?? 50)
    const reconnectMaxMillis = Duration.toMillis(options.reconnect?.max ?? 2000)
    if (!(reconnectMinMillis > 0 && reconnectMaxMillis >= reconnectMinMillis)) {
      return yield* invalid("reconnect needs 0 < min <= max")
    }
    const connectTimeoutMillis = Duration.toMillis(options.connectTimeout ?? 2000)

    const counters = makeCounters()
    const incoming = yield* Queue.bounded<Envelope>(maxIncomingFrames)
    // Registered first so it runs last: readers blocked on a full queue are released by it.
    yield* Effect.addFinalizer(() => Queue.shutdown(incoming))

    const server = yield* listen(own)
    const bound = server.address
    const address: PeerAddress = { host: own.host, port: "port" in bound ? bound.port : own.port }
    const senders = new Set([...peers.keys()].filter((id) => id !== self))
    yield* Effect.forkScoped(
      server.run(
        serveConnection({ clusterId, self, senders, maxFrameBytes, maxConnections, incoming, counters })
      )
    )

    const links = new Map<NodeId, PeerLink>()
    for (const [peer, peerAddress] of peers) {
      if (peer === self) continue
      const link = yield* makePeerLink({
        clusterId,
        self,
        peer,
        address: peerAddress,
        maxFrameBytes,
        maxQueuedFrames,
        maxQueuedBytes,
        maxBatchFrames,
        reconnectMinMillis,
        reconnectMaxMillis,
        connectTimeoutMillis,
        counters
      })
      links.set(peer, link)
    }

    const stats = Effect.sync(() => {
      let queued = 0
      let queuedBytes = 0
      for (const link of links.values()) {
        queued += link.queued()
        queuedBytes += link.queuedBytes()
      }
      return snapshot(counters, queued, queuedBytes)
    })

    const transport: TcpTransport = {
      self,
      address,
      send: (envelope) =>
        Effect.sync(() => {
          const link = links.get(envelope.to)
          if (link === undefined) counters.rejected.unreachable++
          else link.enqueue(envelope)
        }),
      incoming,
      stats
    }
    return transport
  })

/** The TCP {@link Transport} for one node, for the lifetime of the layer. */
export const layerTcp = (options: TcpTransportOptions): Layer.Layer<Transport, TcpTransportError> =>
  Layer.effect(Transport)(makeTcp(options))
