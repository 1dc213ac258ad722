/**
 * A transport wired to nobody: sends go nowhere, nothing arrives, every counter stays at zero.
 * For single-process tools and tests that need the `Transport` service only for what depends on
 * it (e.g. the Prometheus layer's transport metrics), not to reach peers.
 */
import { Effect, Layer, Queue } from "effect"
import { rejectReasons, Transport, type TransportStats } from "./transport.ts"

const zero: TransportStats = {
  rejected: Object.fromEntries(rejectReasons.map((r) => [r, 0])) as TransportStats["rejected"],
  sent: 0,
  received: 0,
  queued: 0,
  queuedBytes: 0,
  connects: 0
}

/** The unwired transport of node `self`. */
export const layerUnwired = (self = 1): Layer.Layer<Transport> =>
  Layer.effect(
    Transport,
    Effect.map(Queue.unbounded<never>(), (incoming) =>
      Transport.of({ self, send: () => Effect.void, incoming, stats: Effect.succeed(zero) })
    )
  )
