/**
 * A bare protocol client for end-to-end tests (no SDK logic: no retries, no leader following),
 * so tests see exactly what a node answers.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect, Exit, Layer, Scope } from "effect"
import { RpcClient, RpcSerialization } from "effect/rpc"
import { KvRpcs } from "../../src/kv/protocol.ts"

const makeClient = RpcClient.make(KvRpcs)
type Client = Effect.Success<typeof makeClient>

export class RawClient {
  private readonly scope: Scope.Closeable
  readonly rpc: Client
  private constructor(scope: Scope.Closeable, rpc: Client) {
    this.scope = scope
    this.rpc = rpc
  }

  static async connect(endpoint: string): Promise<RawClient> {
    const [host, port] = endpoint.split(":") as [string, string]
    const protocol = RpcClient.layerProtocolSocket().pipe(
      Layer.provide(RpcSerialization.layerSchemaBinary()),
      Layer.provide(NodeSocket.layerNet({ host, port: Number(port) }))
    )
    return Effect.runPromise(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(protocol, scope)
        const rpc = yield* makeClient.pipe(Effect.provideContext(context), Scope.provide(scope))
        return new RawClient(scope, rpc)
      })
    )
  }

  /** Run one call, with a time limit, returning its Exit (never throws). */
  run<A, E>(f: (rpc: Client) => Effect.Effect<A, E>, timeoutMs = 5000): Promise<Exit.Exit<A, E | string>> {
    return Effect.runPromiseExit(
      f(this.rpc).pipe(
        Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail("timeout" as const) })
      )
    )
  }

  close(): Promise<void> {
    return Effect.runPromise(Scope.close(this.scope, Exit.void))
  }
}

export const bytes = (s: string) => new TextEncoder().encode(s)
export const text = (b: Uint8Array) => new TextDecoder().decode(b)
