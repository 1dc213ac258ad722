/**
 * Runs the Transport contract against the memory layer (plain and serialized) and the TCP layer.
 */
import { Effect, Layer, Scope } from "effect"
import { makeMemory, makeMemoryNetwork } from "../../src/transport/memory.ts"
import { makeTcp, type PeerAddress } from "../../src/transport/tcp.ts"
import { type MakeHarness, transportContract } from "./contract.ts"
import { captureLogs, freePort } from "./helpers.ts"

const memoryHarness =
  (serialize: boolean): MakeHarness =>
  () =>
    Effect.sync(() => {
      const network = makeMemoryNetwork({ serialize })
      return {
        maxQueuedFrames: 0,
        start: (self, scope) => Scope.provide(makeMemory({ network, self }), scope)
      }
    })

const tcpHarness: MakeHarness = (ids) =>
  Effect.gen(function* () {
    const peers = new Map<number, PeerAddress>()
    for (const id of ids) peers.set(id, { host: "127.0.0.1", port: yield* freePort })
    const maxQueuedFrames = 64
    // Connection churn is expected here; keep its log lines off the console.
    const quiet = captureLogs().layer
    return {
      maxQueuedFrames,
      start: (self, scope) =>
        Layer.buildWithScope(quiet, scope).pipe(
          Effect.flatMap((context) =>
            Scope.provide(
              makeTcp({
                clusterId: "contract",
                self,
                peers,
                maxQueuedFrames,
                // Enough room for the ordering test (600 frames per node) without drops.
                maxIncomingFrames: 4096,
                reconnect: { min: 20, max: 200 }
              }),
              scope
            ).pipe(Effect.provideContext(context))
          )
        )
    }
  })

transportContract("memory", memoryHarness(false))
transportContract("memory (serialized)", memoryHarness(true))
transportContract("tcp", tcpHarness)
