/**
 * The client port: the calls of {@link KvHandlers} over TCP, in the wire format of
 * `kv/client-wire.ts` (length-framed, many requests in flight per connection, answered in any
 * order as they finish).
 *
 * Requests are read from the socket's 'data' events and each runs in a fiber of its own; its
 * answer is written as soon as it finishes. The first answer of a turn of the event loop is
 * written at once; the rest of that turn's answers on the connection leave in one socket write
 * when the turn ends. A connection that sends a frame that cannot be split off the stream
 * (oversized, empty) is closed with a logged reason; a frame that splits but cannot be read is
 * answered `refused` when its id could be read, and otherwise also ends the connection. When a
 * connection ends, the calls still running for it are interrupted: nobody waits for them.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Cause, Effect, Exit, type Fiber, Layer, Option, Result } from "effect"
import type { HostPort } from "../cli/addresses.ts"
import {
  decodeRequest,
  encodeAnswer,
  encodeError,
  encodeRefused,
  MAX_CLIENT_FRAME_BYTES,
  type Request,
  type WireErrorValue
} from "../kv/client-wire.ts"
import type { KvApi } from "../kv/protocol.ts"
import { makeFramer } from "../transport/framer.ts"
import { listen } from "../transport/tcp.ts"
import { KvHandlers, type KvHandlersOptions, layerKvHandlers } from "./KvHandlers.ts"

/** Answers buffered for a client that does not read them before its connection is dropped. */
const MAX_UNREAD_ANSWER_BYTES = 64 * 1024 * 1024

/** The handler's effect for a request. */
const callOf = (api: KvApi, request: Request): Effect.Effect<unknown, WireErrorValue> => {
  switch (request.method) {
    case "Ping":
      return Effect.void
    case "Get":
      return api.Get(request.payload)
    case "Put":
      return api.Put(request.payload)
    case "Delete":
      return api.Delete(request.payload)
    case "OpenSession":
      return api.OpenSession()
    case "CloseSession":
      return api.CloseSession(request.payload)
    case "Status":
      return api.Status()
  }
}

/** The frame answering `request` with its handler's exit; undefined: no answer (interrupted). */
const answerFrame = (request: Request, exit: Exit.Exit<unknown, WireErrorValue>) => {
  if (Exit.isSuccess(exit)) return encodeAnswer(request.method, request.id, exit.value)
  const error = Cause.findError(exit.cause)
  if (Result.isSuccess(error)) return encodeError(request.id, error.success)
  // Interrupted: the connection or the node is closing, and the client will see it close.
  if (Cause.hasInterruptsOnly(exit.cause)) return undefined
  return encodeRefused(request.id, `the node failed to answer: ${Cause.pretty(exit.cause)}`)
}

const remoteOf = Effect.map(Effect.serviceOption(NodeSocket.NetSocket), (conn) =>
  Option.match(conn, {
    onNone: () => "unknown client",
    onSome: (c) => `${c.remoteAddress ?? "?"}:${c.remotePort ?? "?"}`
  })
)

/** Serves one client connection until it closes or sends something that ends it. */
const serve = (api: KvApi): Effect.Effect<void> =>
  Effect.gen(function* () {
    const remote = yield* remoteOf
    const netSocket = yield* Effect.serviceOption(NodeSocket.NetSocket)
    // NodeSocketServer provides the accepted socket with every connection's handler.
    if (Option.isNone(netSocket)) return yield* Effect.die(new Error("client port: no socket to answer on"))
    const conn = netSocket.value
    const context = yield* Effect.context<never>()
    const framer = makeFramer(MAX_CLIENT_FRAME_BYTES)
    const running = new Set<Fiber.Fiber<unknown, WireErrorValue>>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const fiber of running) fiber.interruptUnsafe()
        conn.destroy()
      })
    )

    // The first answer of a turn leaves at once (the node may block on its disk write next);
    // more answers in the same turn are corked and leave together when the turn ends.
    let sentThisTurn = 0
    const endTurn = () => {
      if (sentThisTurn > 1) conn.uncork()
      sentThisTurn = 0
    }
    const send = (frame: Uint8Array) => {
      if (conn.destroyed) return
      if (conn.writableLength > MAX_UNREAD_ANSWER_BYTES) {
        conn.destroy()
        return
      }
      if (sentThisTurn === 0) process.nextTick(endTurn)
      else if (sentThisTurn === 1) conn.cork()
      sentThisTurn++
      conn.write(frame)
    }
    const answer = (request: Request, exit: Exit.Exit<unknown, WireErrorValue>) => {
      let frame: Uint8Array | undefined
      try {
        frame = answerFrame(request, exit)
      } catch (e) {
        // A handler answered with a value the wire cannot carry: a bug here, not the client's.
        frame = encodeRefused(request.id, `the node could not encode its answer: ${String(e)}`)
      }
      if (frame !== undefined) send(frame)
    }
    const start = (request: Request) => {
      const fiber = Effect.runForkWith(context)(callOf(api, request))
      const exit = fiber.pollUnsafe()
      if (exit !== undefined) return answer(request, exit)
      running.add(fiber)
      fiber.addObserver((exit) => {
        running.delete(fiber)
        answer(request, exit)
      })
    }

    /** Ends the connection for what the client sent, saying why in the node's log. */
    const refuse = (detail: string) => {
      conn.destroy()
      Effect.runForkWith(context)(
        Effect.logWarning(`client port: closing connection from ${remote}: ${detail}`)
      )
    }
    const receive = (chunk: Uint8Array) => {
      const framed = framer.push(chunk)
      if (Result.isFailure(framed)) {
        const e = framed.failure
        return refuse(e._tag === "Oversized" ? `frame of ${e.length} bytes, limit ${e.limit}` : "empty frame")
      }
      for (const body of framed.success) {
        const decoded = decodeRequest(body)
        if (Result.isSuccess(decoded)) {
          start(decoded.success)
          continue
        }
        const { id, detail } = decoded.failure
        if (id === undefined) return refuse(`unreadable request: ${detail}`)
        send(encodeRefused(id, `malformed request: ${detail}`))
      }
    }
    // Plain 'data' events, not the socket's pull-based reader: no fiber wake-up per request.
    yield* Effect.callback<void>((resume) => {
      conn.on("data", receive)
      conn.once("close", () => resume(Effect.void))
      // NodeSocketServer pauses every accepted socket until a handler reads it.
      conn.resume()
      if (conn.destroyed) resume(Effect.void)
    })
  }).pipe(Effect.scoped)

/**
 * Serves a client port at `address` for the lifetime of the scope; returns the address it
 * listens on (port 0 picks a free one). Fails with AddressInUse or ListenFailed. `apiFor` gives
 * the calls for each new connection, numbered from 1 (a node serves the same calls on all).
 */
export const serveClients = (address: HostPort, apiFor: (connection: number) => KvApi) =>
  Effect.gen(function* () {
    const server = yield* listen(address)
    let connections = 0
    yield* Effect.forkScoped(server.run(() => serve(apiFor(++connections))))
    const bound = server.address
    return { host: address.host, port: "port" in bound ? bound.port : address.port }
  })

/** The client port at `address`, serving the node's {@link KvHandlers}. */
export const layerKvServer = (address: HostPort, options: KvHandlersOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const api = yield* KvHandlers
      yield* serveClients(address, () => api)
    })
  ).pipe(Layer.provide(layerKvHandlers(options)))
