/**
 * Shared helpers of the transport tests: free ports, bounded polling, draining `incoming`,
 * capturing logs, and raw sockets that play a hostile peer.
 */
import { Effect, Logger, Queue } from "effect"
import * as Net from "node:net"
import type { AppendEntries, Envelope } from "../../src/core/types.ts"

/** A port the OS just handed out (bound to port 0, then released). */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Polls `check` every 10 ms until it holds; fails after `timeoutMillis` (a bounded real wait). */
export const eventually = (
  check: Effect.Effect<boolean>,
  what: string,
  timeoutMillis = 10_000
): Effect.Effect<void, Error> =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(10)
    }
  })

/** Takes exactly `n` envelopes from `incoming` (in arrival order), or fails after the timeout. */
export const collect = (
  incoming: Queue.Dequeue<Envelope>,
  n: number,
  timeoutMillis = 10_000
): Effect.Effect<Array<Envelope>, Error> =>
  Effect.gen(function* () {
    const out: Array<Envelope> = []
    while (out.length < n) out.push(yield* Queue.take(incoming))
    return out
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMillis,
      orElse: () => Effect.fail(new Error(`timed out waiting for ${n} envelopes`))
    })
  )

/** An AppendEntries whose `round` numbers it and whose entry bytes are derived from (seed, seq). */
export const numbered = (seed: number, seq: number, entries = 2): AppendEntries => ({
  _tag: "AppendEntries",
  term: 1 + seed,
  prevLogIndex: seq,
  prevLogTerm: 1,
  entries: Array.from({ length: entries }, (_, i) => ({
    term: 1 + seed,
    kind: "command" as const,
    data: Uint8Array.from(
      { length: 16 + ((seq + i) % 50) },
      (_, j) => (seed * 31 + seq * 7 + i * 3 + j) & 0xff
    )
  })),
  leaderCommit: seq,
  round: seq
})

/** Log lines captured from the effect it is provided to (and quiet on the console). */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    const message = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
    lines.push(`${options.logLevel}: ${message}`)
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** A raw TCP client playing a peer (possibly hostile). */
export interface RawPeer {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  /** Resolves when the server closed the connection (true) or after `millis` (false). */
  readonly closedWithin: (millis: number) => Effect.Effect<boolean>
  /** Half-closes (FIN): "I am done sending", the polite way to hang up. */
  readonly end: Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
}

export const rawConnect = (port: number): Effect.Effect<RawPeer, Error> =>
  Effect.callback<RawPeer, Error>((resume) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    let closed = false
    const waiters: Array<() => void> = []
    socket.on("close", () => {
      closed = true
      for (const w of waiters.splice(0)) w()
    })
    socket.on("error", () => {}) // a reset by the server is an expected outcome here
    socket.on("data", () => {}) // keep the stream flowing so a FIN is seen
    socket.once("connect", () =>
      resume(
        Effect.succeed({
          write: (bytes) =>
            Effect.sync(() => {
              if (!socket.destroyed) socket.write(bytes)
            }),
          closedWithin: (millis) =>
            Effect.callback<boolean>((done) => {
              if (closed) return done(Effect.succeed(true))
              const timer = setTimeout(() => done(Effect.succeed(false)), millis)
              waiters.push(() => {
                clearTimeout(timer)
                done(Effect.succeed(true))
              })
            }),
          end: Effect.sync(() => void socket.end()),
          destroy: Effect.sync(() => void socket.destroy())
        })
      )
    )
    socket.once("error", (e) => resume(Effect.fail(e)))
  })
