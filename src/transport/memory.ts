/**
 * The in-process transport: several nodes in one process exchange messages through a shared
 * {@link MemoryNetwork}, which tests can partition without TCP.
 *
 * Delivery is immediate (the envelope lands in the receiver's `incoming` during `send`), in order,
 * and lossless unless a fault hook, a stopped receiver or a full inbox drops it.
 */
import { Effect, Layer, Queue, Result } from "effect"
import type { Envelope, NodeId } from "../core/types.ts"
import { decodeBody, encodeFrame, LENGTH_PREFIX_BYTES } from "./codec.ts"
import { type Counters, makeCounters, snapshot } from "./stats.ts"
import { Transport, type TransportShape } from "./transport.ts"

/** A simulated network shared by the memory transports of several nodes. */
export interface MemoryNetwork {
  /** Drops all traffic between `a` and `b`, both directions, until healed. */
  readonly partition: (a: NodeId, b: NodeId) => Effect.Effect<void>
  /** Restores traffic between `a` and `b` (undoes {@link partition}, not {@link isolate}). */
  readonly heal: (a: NodeId, b: NodeId) => Effect.Effect<void>
  /** Drops all traffic to and from `node` until {@link healAll}. */
  readonly isolate: (node: NodeId) => Effect.Effect<void>
  /** Removes every partition and isolation. */
  readonly healAll: Effect.Effect<void>
  /** Whether a frame from `from` to `to` would currently be delivered (receiver running, no fault). */
  readonly canDeliver: (from: NodeId, to: NodeId) => boolean
}

export interface MemoryNetworkOptions {
  /**
   * Round-trip every message through the wire codec (encode, then decode what the receiver gets),
   * so tests see exactly what TCP would deliver and catch unencodable messages. Default false.
   */
  readonly serialize?: boolean
  /** Frame size limit when `serialize` is on. Default 16 MiB. */
  readonly maxFrameBytes?: number
}

interface Member {
  readonly inbox: Queue.Queue<Envelope>
  readonly counters: Counters
}

interface NetworkState {
  readonly options: MemoryNetworkOptions
  readonly members: Map<NodeId, Member>
  readonly cut: Set<string>
  readonly isolated: Set<NodeId>
}

const states = new WeakMap<MemoryNetwork, NetworkState>()
const linkKey = (from: NodeId, to: NodeId) => `${from}>${to}`

/** Creates an empty network. Nodes join it by building {@link layerMemory} (or {@link makeMemory}). */
export const makeMemoryNetwork = (options: MemoryNetworkOptions = {}): MemoryNetwork => {
  const state: NetworkState = { options, members: new Map(), cut: new Set(), isolated: new Set() }
  const network: MemoryNetwork = {
    partition: (a, b) =>
      Effect.sync(() => {
        state.cut.add(linkKey(a, b))
        state.cut.add(linkKey(b, a))
      }),
    heal: (a, b) =>
      Effect.sync(() => {
        state.cut.delete(linkKey(a, b))
        state.cut.delete(linkKey(b, a))
      }),
    isolate: (node) => Effect.sync(() => void state.isolated.add(node)),
    healAll: Effect.sync(() => {
      state.cut.clear()
      state.isolated.clear()
    }),
    canDeliver: (from, to) =>
      state.members.has(to) &&
      !state.isolated.has(from) &&
      !state.isolated.has(to) &&
      !state.cut.has(linkKey(from, to))
  }
  states.set(network, state)
  return network
}

export interface MemoryTransportOptions {
  readonly network: MemoryNetwork
  readonly self: NodeId
  /** Capacity of `incoming`; when full, further deliveries are dropped (`queue-full`). Default 4096. */
  readonly maxIncomingFrames?: number
}

/** The cluster id the memory network stamps on serialized frames. */
const MEMORY_CLUSTER = "memory"

/**
 * Joins `network` as node `self` for the lifetime of the scope. Leaving (scope close) makes the
 * node unreachable; joining again under the same id is how a test restarts a node. Joining with an
 * id that is already present is a bug in the test and dies.
 */
export const makeMemory = (options: MemoryTransportOptions) =>
  Effect.gen(function* () {
    const state = states.get(options.network)
    if (state === undefined) return yield* Effect.die(new Error("not a MemoryNetwork"))
    const { self, network } = options
    if (state.members.has(self))
      return yield* Effect.die(new Error(`node ${self} already joined this network`))
    const incoming = yield* Queue.bounded<Envelope>(options.maxIncomingFrames ?? 4096)
    const counters = makeCounters()
    const maxFrameBytes = state.options.maxFrameBytes ?? 16 * 1024 * 1024

    // Serialized mode: what the receiver gets is what TCP would have delivered.
    const wire = (envelope: Envelope): Envelope | undefined => {
      if (state.options.serialize !== true) return envelope
      const encoded = encodeFrame({ clusterId: MEMORY_CLUSTER, ...envelope }, maxFrameBytes)
      if (Result.isFailure(encoded)) {
        counters.rejected[encoded.failure.reason === "oversized" ? "oversized" : "malformed"]++
        return undefined
      }
      const decoded = decodeBody(encoded.success.subarray(LENGTH_PREFIX_BYTES))
      if (Result.isFailure(decoded)) {
        counters.rejected.malformed++
        return undefined
      }
      const { from, to, message } = decoded.success
      return { from, to, message }
    }

    const send = (envelope: Envelope): Effect.Effect<void> =>
      Effect.sync(() => {
        const to = envelope.to
        const receiver = state.members.get(to)
        if (receiver === undefined || !network.canDeliver(self, to)) {
          counters.rejected.unreachable++
          return
        }
        const delivered = wire({ from: self, to, message: envelope.message })
        if (delivered === undefined) return
        if (Queue.offerUnsafe(receiver.inbox, delivered)) {
          counters.sent++
          receiver.counters.received++
        } else {
          counters.rejected["queue-full"]++
        }
      })

    const member: Member = { inbox: incoming, counters }
    state.members.set(self, member)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (state.members.get(self) === member) state.members.delete(self)
        Queue.shutdownUnsafe(incoming)
      })
    )

    const shape: TransportShape = {
      self,
      send,
      incoming,
      // Nothing waits in the memory network: delivery happens during `send`.
      stats: Effect.sync(() => snapshot(counters, 0, 0))
    }
    return shape
  })

/** A memory {@link Transport} for node `self` on `network`, for the lifetime of the layer. */
export const layerMemory = (options: MemoryTransportOptions): Layer.Layer<Transport> =>
  Layer.effect(Transport)(makeMemory(options))
