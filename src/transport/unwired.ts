/**
 * A transport wired to nobody: sends go nowhere, nothing arrives, every counter stays at zero.
 * For single-process tools and tests that need the `Transport` service only for what depends on
 * it (e.g. the Prometheus layer's transport metrics), or that play a node's peers themselves.
 */
import { Effect, Layer, Queue } from "effect"
import type { Envelope } from "../core/types.ts"
import { rejectReasons, Transport, type TransportStats } from "./transport.ts"

const zero: TransportStats = {
  rejected: Object.fromEntries(rejectReasons.map((r) => [r, 0])) as TransportStats["rejected"],
  sent: 0,
  received: 0,
  queued: 0,
  queuedBytes: 0,
  connects: 0
}

/**
 * The unwired transport of node `self`. With `incoming`, what a test offers there arrives as if
 * from peers (nothing checks it: the test plays the peers).
 */
export const layerUnwired = (self = 1, incoming?: Queue.Queue<Envelope>): Layer.Layer<Transport> =>
  Layer.effect(
    Transport,
    Effect.map(incoming === undefined ? Queue.unbounded<Envelope>() : Effect.succeed(incoming), (inbox) =>
      Transport.of({ self, send: () => Effect.void, incoming: inbox, stats: Effect.succeed(zero) })
    )
  )
