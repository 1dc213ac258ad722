/**
 * A bare protocol client for end-to-end tests (no SDK logic: no retries, no leader following),
 * so tests see exactly what a node answers.
 */
import { Effect, Exit, Scope } from "effect"
import { makePool, type NodeConnection } from "../../src/client/connections.ts"

export class RawClient {
  private readonly scope: Scope.Closeable
  readonly rpc: NodeConnection
  private constructor(scope: Scope.Closeable, rpc: NodeConnection) {
    this.scope = scope
    this.rpc = rpc
  }

  /** A client of the node at `endpoint`; it connects with its first call. */
  static async connect(endpoint: string): Promise<RawClient> {
    return Effect.runPromise(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* makePool({ connectTimeoutMs: 2000, keepAliveMs: 5000 }).pipe(Scope.provide(scope))
        return new RawClient(scope, yield* pool.get(endpoint))
      })
    )
  }

  /** Run one call, with a time limit, returning its Exit (never throws). */
  run<A, E>(
    f: (rpc: NodeConnection) => Effect.Effect<A, E>,
    timeoutMs = 5000
  ): Promise<Exit.Exit<A, E | string>> {
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
