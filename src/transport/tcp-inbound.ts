/**
 * The read side of the TCP transport: one handler per accepted connection. It frames, decodes and
 * checks every frame, and hands good envelopes to the node's `incoming` queue.
 *
 * Inbound connections are read-only: this node never writes on them (its messages to that peer go
 * over its own outbound connection). A connection that sends anything unacceptable is closed with
 * a logged reason; only that connection is affected.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect, Option, Queue, Result } from "effect"
import * as Socket from "effect/socket/Socket"
import type { Envelope, NodeId } from "../core/types.ts"
import { decodeBody } from "./codec.ts"
import { makeFramer } from "./framer.ts"
import type { Counters } from "./stats.ts"
import type { RejectReason } from "./transport.ts"

export interface InboundContext {
  readonly clusterId: string
  readonly self: NodeId
  /** Node ids this node accepts messages from (its peers, not itself). */
  readonly senders: ReadonlySet<NodeId>
  readonly maxFrameBytes: number
  /** Connections served at once; more are closed on arrival (each may buffer up to a frame). */
  readonly maxConnections: number
  readonly incoming: Queue.Queue<Envelope>
  readonly counters: Counters
}

/** Ends the connection: counts the reason and logs it (the scope closing closes the socket). */
const refuse = (ctx: InboundContext, remote: string, reason: RejectReason, detail: string) =>
  Effect.sync(() => void ctx.counters.rejected[reason]++).pipe(
    Effect.andThen(
      Effect.logWarning(`transport: closing inbound connection from ${remote}: ${reason}: ${detail}`)
    )
  )

/** Counts a dropped frame; logs only the first of each kind per connection, to bound log volume. */
const dropFrame = (
  ctx: InboundContext,
  remote: string,
  reason: RejectReason,
  detail: string,
  logged: Set<string>
) => {
  ctx.counters.rejected[reason]++
  if (logged.has(reason)) return Effect.void
  logged.add(reason)
  return Effect.logWarning(`transport: dropping frames from ${remote}: ${reason}: ${detail}`)
}

const remoteOf = Effect.map(Effect.serviceOption(NodeSocket.NetSocket), (conn) =>
  Option.match(conn, {
    onNone: () => "unknown peer",
    onSome: (c) => `${c.remoteAddress ?? "?"}:${c.remotePort ?? "?"}`
  })
)

/**
 * The handler for accepted connections: serves each until the peer closes it or sends something
 * unacceptable. Never fails: socket errors end the connection quietly (a peer restarting is
 * routine).
 */
export const serveConnection = (ctx: InboundContext) => {
  let active = 0
  return (socket: Socket.Socket): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (active >= ctx.maxConnections) {
        // Opening and releasing the reader closes the socket: a flood cannot pin memory.
        return Effect.flatMap(remoteOf, (remote) =>
          Effect.logWarning(
            `transport: refusing connection from ${remote}: ${ctx.maxConnections} already open`
          )
        ).pipe(Effect.andThen(Effect.scoped(socket.reader)), Effect.ignore)
      }
      active++
      return Effect.ensuring(
        serve(ctx, socket),
        Effect.sync(() => void active--)
      )
    })
}

const serve = (ctx: InboundContext, socket: Socket.Socket): Effect.Effect<void> =>
  Effect.gen(function* () {
    const remote = yield* remoteOf
    const pull = yield* Socket.readerBytes(socket)
    const framer = makeFramer(ctx.maxFrameBytes)
    const logged = new Set<string>()
    // The first good frame names the sender; one connection carries one peer's traffic.
    let sender: NodeId | undefined
    while (true) {
      const chunks = yield* pull
      for (const chunk of chunks) {
        const framed = framer.push(chunk)
        if (Result.isFailure(framed)) {
          const e = framed.failure
          return yield* e._tag === "Oversized"
            ? refuse(ctx, remote, "oversized", `frame of ${e.length} bytes, limit ${e.limit}`)
            : refuse(ctx, remote, "malformed", "empty frame")
        }
        for (const body of framed.success) {
          const decoded = decodeBody(body)
          if (Result.isFailure(decoded)) {
            return yield* refuse(
              ctx,
              remote,
              "malformed",
              `${decoded.failure.reason}: ${decoded.failure.detail}`
            )
          }
          const frame = decoded.success
          if (frame.clusterId !== ctx.clusterId) {
            return yield* refuse(
              ctx,
              remote,
              "wrong-cluster",
              `cluster id ${JSON.stringify(frame.clusterId)}`
            )
          }
          if (sender === undefined) sender = frame.from
          else if (frame.from !== sender) {
            return yield* refuse(ctx, remote, "malformed", `sender changed from ${sender} to ${frame.from}`)
          }
          if (frame.to !== ctx.self) {
            yield* dropFrame(ctx, remote, "wrong-recipient", `addressed to node ${frame.to}`, logged)
            continue
          }
          if (!ctx.senders.has(frame.from)) {
            yield* dropFrame(ctx, remote, "unknown-sender", `node ${frame.from} is not a peer`, logged)
            continue
          }
          const envelope: Envelope = { from: frame.from, to: frame.to, message: frame.message }
          // Fast path without suspending; when the runtime is behind, wait (TCP pushes back).
          if (!Queue.offerUnsafe(ctx.incoming, envelope) && !(yield* Queue.offer(ctx.incoming, envelope))) {
            return // incoming was shut down: the transport is closing
          }
          ctx.counters.received++
        }
      }
    }
  }).pipe(
    Effect.scoped,
    Effect.catchTag("SocketError", (e) =>
      Effect.logDebug(`transport: inbound connection ended: ${e.message}`)
    )
  )
