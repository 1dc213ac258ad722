/**
 * The write side of the TCP transport: one link per peer, made of a bounded queue and a fiber that
 * keeps one outbound connection to the peer's listed address, redialing with backoff.
 *
 * The queue is bounded in frames and in (estimated) bytes and drops its oldest frames when either
 * bound is exceeded (counted as `queue-full`), so a dead or slow peer costs at most
 * `maxQueuedFrames` envelopes and about `maxQueuedBytes` of payload. The writer takes what is
 * waiting as one batch, encodes it into one buffer and writes that with a single socket write
 * (so at most one batch more is held by the socket while it waits for the peer to drain it).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Cause, Clock, Effect, Exit, Queue, Random } from "effect"
import * as Socket from "effect/socket/Socket"
import type { Envelope, NodeId } from "../core/types.ts"
import { backoffMillis } from "./backoff.ts"
import { encodeFrames, estimateFrameBytes, type FrameEncodeError } from "./codec.ts"
import type { Counters } from "./stats.ts"

/** Where a node listens for its peers. */
export interface PeerAddress {
  readonly host: string
  readonly port: number
}

export interface PeerLinkOptions {
  readonly clusterId: string
  readonly self: NodeId
  readonly peer: NodeId
  readonly address: PeerAddress
  readonly maxFrameBytes: number
  readonly maxQueuedFrames: number
  readonly maxQueuedBytes: number
  readonly maxBatchFrames: number
  readonly reconnectMinMillis: number
  readonly reconnectMaxMillis: number
  readonly connectTimeoutMillis: number
  readonly counters: Counters
}

export interface PeerLink {
  /** Queues an envelope for this peer; never blocks. Drops (and counts) the oldest when full. */
  readonly enqueue: (envelope: Envelope) => void
  /** Envelopes currently waiting. */
  readonly queued: () => number
  /** Estimated bytes of the envelopes currently waiting. */
  readonly queuedBytes: () => number
}

/** A waiting envelope and its estimated frame size (kept to keep the byte count exact). */
interface Pending {
  readonly envelope: Envelope
  readonly bytes: number
}

/** The peer wrote on a connection that is ours to write only. */
class UnexpectedData {
  readonly _tag = "UnexpectedData"
}

// One line, no stack: what went wrong with the connection.
const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof UnexpectedData) return "the peer wrote on our outbound connection"
  if (error instanceof Error) {
    const inner = error.cause instanceof Error ? `: ${error.cause.message}` : ""
    return `${error.message}${inner}`
  }
  return String(error)
}

/**
 * Starts the link to one peer; its fiber lives as long as the enclosing scope.
 */
export const makePeerLink = (options: PeerLinkOptions) =>
  Effect.gen(function* () {
    const { counters, address } = options
    // Unbounded as a Queue; `enqueue` enforces both bounds by dropping from the head.
    const queue = yield* Queue.unbounded<Pending>()
    let queuedBytes = 0
    const target = `node ${options.peer} at ${address.host}:${address.port}`

    // The whole batch becomes one buffer and one socket write.
    const encodeBatch = (batch: ReadonlyArray<Pending>) => {
      const frames = batch.map(({ envelope }) => ({
        clusterId: options.clusterId,
        from: options.self,
        to: options.peer,
        message: envelope.message
      }))
      const encoded = encodeFrames(frames, options.maxFrameBytes)
      for (const failure of encoded.failures) {
        counters.rejected[failure.reason === "oversized" ? "oversized" : "malformed"]++
      }
      return encoded
    }

    const logDropped = (failures: ReadonlyArray<FrameEncodeError>) =>
      failures.length === 0
        ? Effect.void
        : Effect.logWarning(
            `transport: dropped ${failures.length} unencodable message(s) to ${target}: ${failures[0]!.detail}`
          )

    // One connection's life: dial, then write batches until the socket fails or the peer closes.
    const session = (onConnected: () => Effect.Effect<void>) =>
      Effect.gen(function* () {
        const socket = yield* NodeSocket.makeNet({
          host: address.host,
          port: address.port,
          noDelay: true,
          openTimeout: options.connectTimeoutMillis
        })
        // Acquiring the reader dials; it fails with a SocketError when the peer is down.
        const pull = yield* Socket.readerBytes(socket)
        const writer = yield* socket.writer
        counters.connects++
        yield* onConnected()
        const write = Effect.forever(
          Effect.gen(function* () {
            const batch = yield* Queue.takeBetween(queue, 1, options.maxBatchFrames)
            for (const p of batch) queuedBytes -= p.bytes
            const encoded = encodeBatch(batch)
            yield* logDropped(encoded.failures)
            if (encoded.frames === 0) return
            yield* writer.write(encoded.bytes)
            counters.sent += encoded.frames
          })
        )
        // Nothing may arrive on this connection; the pull also reports the peer closing it.
        const watch = Effect.flatMap(pull, () => Effect.fail(new UnexpectedData()))
        return yield* Effect.raceFirst(write, watch)
      }).pipe(Effect.scoped)

    const run = Effect.gen(function* () {
      let attempt = 0
      let wasUp = true // so the first failure to reach the peer is logged once
      while (true) {
        let connectedAt: number | undefined
        const exit = yield* Effect.exit(
          session(() =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              connectedAt = now
              return Effect.logInfo(`transport: connected to ${target}`)
            })
          )
        )
        const now = yield* Clock.currentTimeMillis
        const reason = Exit.isFailure(exit) ? describe(exit.cause) : "closed"
        if (connectedAt !== undefined) {
          yield* Effect.logWarning(`transport: lost connection to ${target}: ${reason}`)
          // Only a connection that stayed up a while resets the backoff, so a peer that accepts
          // and then drops us (e.g. another cluster) is not redialed in a tight loop.
          if (now - connectedAt >= options.reconnectMaxMillis) attempt = 0
          wasUp = true
        } else if (wasUp) {
          yield* Effect.logWarning(`transport: cannot reach ${target}, retrying with backoff: ${reason}`)
          wasUp = false
        }
        const delay = backoffMillis(
          attempt,
          options.reconnectMinMillis,
          options.reconnectMaxMillis,
          yield* Random.next
        )
        attempt++
        yield* Effect.sleep(delay)
      }
    })

    yield* Effect.forkScoped(run)

    const link: PeerLink = {
      enqueue: (envelope) => {
        const bytes = estimateFrameBytes(envelope.message)
        Queue.offerUnsafe(queue, { envelope, bytes })
        queuedBytes += bytes
        // Drop the oldest while over a bound (the newest frame always stays).
        while (
          Queue.sizeUnsafe(queue) > options.maxQueuedFrames ||
          (queuedBytes > options.maxQueuedBytes && Queue.sizeUnsafe(queue) > 1)
        ) {
          const oldest = Queue.takeUnsafe(queue)
          if (oldest === undefined || Exit.isFailure(oldest)) break
          queuedBytes -= oldest.value.bytes
          counters.rejected["queue-full"]++
        }
      },
      queued: () => Queue.sizeUnsafe(queue),
      queuedBytes: () => queuedBytes
    }
    return link
  })
