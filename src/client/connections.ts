/**
 * One connection per node the client talks to, dialed on first use and shared by every call to
 * that node. Requests are numbered, so many calls are in flight on one connection and answers are
 * matched to them in any order (pipelining); requests made in the same turn of the event loop
 * leave in one socket write.
 *
 * A connection that breaks fails the calls in flight on it with {@link ConnectionLost} (`lost`:
 * the request may have reached the node; the caller retries elsewhere) and redials in the
 * background with backoff (50 ms doubling up to 1 s). Until it is back, calls on it fail at once
 * (`open`: never sent) instead of waiting; only the very first dial is waited for. A ping on a
 * connection that heard nothing for `keepAliveMs` finds a silent node: without an answer within
 * another `keepAliveMs`, the connection is treated as broken.
 *
 * Plain `node:net` and callbacks, no fiber per call: this is the client's hot path, and the
 * load generator runs dozens of these in one process.
 */
import * as Net from "node:net"
import { Effect, Result, type Scope } from "effect"
import {
  decodeResponse,
  encodeRequest,
  MAX_CLIENT_FRAME_BYTES,
  type Request,
  type WireMethod
} from "../kv/client-wire.ts"
import { type KvApi, KeyTooLarge, ValueTooLarge } from "../kv/protocol.ts"
import { LENGTH_PREFIX_BYTES } from "../transport/codec.ts"
import { makeFramer } from "../transport/framer.ts"
import { parseEndpoint } from "./endpoint.ts"
import { ConnectionLost, NodeUnreachable, RequestRefused } from "./errors.ts"

/** A node's calls over one connection; each can also fail with {@link ConnectionLost}. */
export type NodeConnection = KvApi<ConnectionLost>

/** Largest frame accepted from a node; the node's own request limit is 4 MiB (a 1 MiB value fits). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024

/**
 * Where every connection of the process reads into (Node's `onread`), instead of a fresh 64 KiB
 * allocation per read: a read is consumed before the next one can happen, since answers are
 * decoded at once, and the framer and decoder copy what they keep.
 */
const readBuffer = new Uint8Array(64 * 1024)

const REDIAL_MIN_MS = 50
const REDIAL_MAX_MS = 1000

export interface ConnectionPool {
  /** The connection to `endpoint`, dialed on first use. Fails only for an endpoint that is not
   * host:port (a node's hint can be anything). */
  readonly get: (endpoint: string) => Effect.Effect<NodeConnection, NodeUnreachable>
  /** The connection to `endpoint` if it was asked for before (the hot path: no Effect to run). */
  readonly ready: (endpoint: string) => NodeConnection | undefined
}

export interface ConnectionOptions {
  readonly connectTimeoutMs: number
  readonly keepAliveMs: number
}

type Resume = (effect: Effect.Effect<unknown, unknown>) => void

interface Waiting {
  readonly method: WireMethod
  readonly resume: Resume
}

const describe = (error: Error): string => {
  const code = (error as { readonly code?: unknown }).code
  return typeof code === "string" && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message
}

/**
 * Why a request longer than the client port's frame limit cannot be sent: its key or value, with
 * the most that would fit. Only keys and values make a request large.
 */
const tooLarge = (request: Request, frameBytes: number): KeyTooLarge | ValueTooLarge => {
  if (request.method === "Put") {
    const { key, value } = request.payload
    const room = MAX_CLIENT_FRAME_BYTES - (frameBytes - key.length - value.length)
    return value.length >= key.length
      ? new ValueTooLarge({ size: value.length, limit: room - key.length })
      : new KeyTooLarge({ size: key.length, limit: room - value.length })
  }
  const key = request.method === "Get" || request.method === "Delete" ? request.payload.key.length : 0
  return new KeyTooLarge({ size: key, limit: MAX_CLIENT_FRAME_BYTES - (frameBytes - key) })
}

/** The connection to one node (see the module comment). */
class Connection {
  private socket: Net.Socket | undefined
  private state: "connecting" | "open" | "down" | "closed" = "down"
  /** True until the first dial has finished: calls wait for it instead of failing at once. */
  private firstDial = true
  /** Requests waiting for the first dial. */
  private queued: Array<{ readonly request: Request; readonly waiting: Waiting }> = []
  private readonly inFlight = new Map<number, Waiting>()
  private nextId = 1
  private failures = 0
  private lastError = "not connected yet"
  private redialTimer: ReturnType<typeof setTimeout> | undefined
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined
  private heard = false
  private pinging = false
  private corked = false
  private readonly host: string
  private readonly port: number
  readonly endpoint: string
  private readonly options: ConnectionOptions

  constructor(endpoint: string, host: string, port: number, options: ConnectionOptions) {
    this.endpoint = endpoint
    this.host = host
    this.port = port
    this.options = options
    this.dial()
  }

  private readonly methodOf = (id: number) => this.inFlight.get(id)?.method

  private dial(): void {
    if (this.state === "closed") return
    this.state = "connecting"
    const framer = makeFramer(MAX_FRAME_BYTES)
    const socket = Net.connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes, buffer) => {
          this.receive(socket, framer.push(buffer.subarray(0, bytes)))
          return true
        }
      }
    })
    this.socket = socket
    socket.setTimeout(this.options.connectTimeoutMs, () =>
      socket.destroy(new Error(`no connection within ${this.options.connectTimeoutMs} ms`))
    )
    socket.once("connect", () => {
      socket.setTimeout(0)
      this.state = "open"
      this.firstDial = false
      this.failures = 0
      this.heard = true
      const queued = this.queued
      this.queued = []
      for (const { request, waiting } of queued) this.send(request, waiting)
    })
    socket.on("error", (error) => {
      this.lastError = describe(error)
    })
    socket.once("close", () => this.broken(socket))
  }

  private receive(socket: Net.Socket, framed: ReturnType<ReturnType<typeof makeFramer>["push"]>): void {
    if (Result.isFailure(framed)) {
      const e = framed.failure
      const detail =
        e._tag === "Oversized" ? `an answer of ${e.length} bytes, limit ${e.limit}` : "an empty frame"
      socket.destroy(new Error(`the node sent ${detail}`))
      return
    }
    this.heard = true
    this.pinging = false
    for (const body of framed.success) {
      const decoded = decodeResponse(body, this.methodOf)
      if (Result.isFailure(decoded)) {
        socket.destroy(new Error(`unreadable answer from the node: ${decoded.failure.detail}`))
        return
      }
      const response = decoded.success
      const waiting = this.inFlight.get(response.id)
      if (waiting === undefined) continue // stray: its caller gave up
      this.inFlight.delete(response.id)
      switch (response.outcome) {
        case "answer":
          waiting.resume(Effect.succeed(response.value))
          break
        case "error":
          waiting.resume(Effect.fail(response.error))
          break
        case "refused":
          waiting.resume(Effect.die(new RequestRefused({ endpoint: this.endpoint, reason: response.reason })))
          break
      }
    }
  }

  /** The socket closed: fail what was on it and redial after a backoff. */
  private broken(socket: Net.Socket): void {
    if (socket !== this.socket) return
    this.socket = undefined
    this.stopKeepAlive()
    const wasOpen = this.state === "open"
    if (this.state !== "closed") this.state = "down"
    this.firstDial = false
    if (wasOpen && this.lastError === "not connected yet") this.lastError = "closed by the node"
    const lost = new ConnectionLost({ endpoint: this.endpoint, phase: "lost", detail: this.lastError })
    const inFlight = [...this.inFlight.values()]
    this.inFlight.clear()
    for (const waiting of inFlight) waiting.resume(Effect.fail(lost))
    const notSent = new ConnectionLost({ endpoint: this.endpoint, phase: "open", detail: this.lastError })
    const queued = this.queued
    this.queued = []
    for (const { waiting } of queued) waiting.resume(Effect.fail(notSent))
    if (this.state === "closed") return
    this.failures++
    const delay = Math.min(REDIAL_MAX_MS, REDIAL_MIN_MS * 2 ** Math.min(this.failures - 1, 10))
    this.redialTimer = setTimeout(() => {
      this.redialTimer = undefined
      this.lastError = "not connected yet"
      this.dial()
    }, delay)
    this.redialTimer.unref()
  }

  private startKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) return
    this.keepAliveTimer = setInterval(() => this.checkAlive(), this.options.keepAliveMs)
    this.keepAliveTimer.unref()
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer)
    this.keepAliveTimer = undefined
    this.pinging = false
  }

  private checkAlive(): void {
    const socket = this.socket
    if (socket === undefined || this.state !== "open") return
    if (this.heard) {
      this.heard = false
      return
    }
    if (this.pinging) {
      socket.destroy(new Error(`no answer within ${this.options.keepAliveMs} ms`))
      return
    }
    this.pinging = true
    this.send({ method: "Ping", id: this.nextId++, payload: undefined }, { method: "Ping", resume: () => {} })
  }

  private readonly uncork = () => {
    this.corked = false
    this.socket?.uncork()
  }

  private send(request: Request, waiting: Waiting): void {
    const socket = this.socket
    if (socket === undefined || this.state !== "open") {
      waiting.resume(
        Effect.fail(new ConnectionLost({ endpoint: this.endpoint, phase: "open", detail: this.lastError }))
      )
      return
    }
    let frame: Uint8Array
    try {
      frame = encodeRequest(request)
    } catch (e) {
      // A payload of the wrong type: the caller's bug, reported as a defect.
      waiting.resume(Effect.die(e))
      return
    }
    if (frame.length - LENGTH_PREFIX_BYTES > MAX_CLIENT_FRAME_BYTES) {
      // The node would close the connection on it, unanswered: say what is too large instead.
      waiting.resume(Effect.fail(tooLarge(request, frame.length - LENGTH_PREFIX_BYTES)))
      return
    }
    this.inFlight.set(request.id, waiting)
    this.startKeepAlive()
    if (!this.corked) {
      this.corked = true
      socket.cork()
      process.nextTick(this.uncork)
    }
    socket.write(frame)
  }

  /** Runs one call: sends it now, after the first dial, or fails at once while disconnected. */
  call<A, E>(method: Request["method"], payload: unknown): Effect.Effect<A, E | ConnectionLost> {
    return Effect.callback<A, E | ConnectionLost>((resume) => {
      const id = this.nextId++
      const request = { method, id, payload } as Request
      const waiting: Waiting = { method, resume: resume as Resume }
      if (this.state === "connecting" && this.firstDial) this.queued.push({ request, waiting })
      else this.send(request, waiting)
      // The caller gave up: forget the call (an answer that comes later is skipped).
      return Effect.sync(() => {
        this.inFlight.delete(id)
        const at = this.queued.findIndex((q) => q.request.id === id)
        if (at >= 0) this.queued.splice(at, 1)
      })
    })
  }

  close(): void {
    this.state = "closed"
    if (this.redialTimer !== undefined) clearTimeout(this.redialTimer)
    this.redialTimer = undefined
    this.lastError = "the client closed the connection"
    this.socket?.destroy()
  }

  /** The typed calls of the node. */
  readonly api: NodeConnection = {
    Get: (request) => this.call("Get", request),
    Put: (request) => this.call("Put", request),
    Delete: (request) => this.call("Delete", request),
    OpenSession: () => this.call("OpenSession", undefined),
    CloseSession: (request) => this.call("CloseSession", request),
    Status: () => this.call("Status", undefined)
  }
}

/** A pool whose connections live until `scope` closes. */
export const makePool = (options: ConnectionOptions): Effect.Effect<ConnectionPool, never, Scope.Scope> =>
  Effect.gen(function* () {
    const connections = new Map<string, Connection>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const connection of connections.values()) connection.close()
        connections.clear()
      })
    )
    const get = (endpoint: string): Effect.Effect<NodeConnection, NodeUnreachable> =>
      Effect.suspend(() => {
        const existing = connections.get(endpoint)
        if (existing !== undefined) return Effect.succeed(existing.api)
        const address = parseEndpoint(endpoint)
        if (address === undefined) {
          return Effect.fail(new NodeUnreachable({ endpoint, reason: "not a host:port address" }))
        }
        const connection = new Connection(endpoint, address.host, address.port, options)
        connections.set(endpoint, connection)
        return Effect.succeed(connection.api)
      })
    return { get, ready: (endpoint) => connections.get(endpoint)?.api }
  })
