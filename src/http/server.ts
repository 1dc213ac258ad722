/**
 * The node's HTTP server (its `--http` address), serving the observability routes.
 */
import * as Http from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import type { NodeHealth } from "../metrics/health.ts"
import type { MetricsExposition } from "../metrics/prometheus.ts"
import type { RaftNode } from "../runtime/RaftNode.ts"
import { routes } from "./routes.ts"

/** The HTTP address could not be listened on (in use, not local, no permission). */
export class HttpListenError extends Schema.TaggedError<HttpListenError>()("HttpListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot serve HTTP on ${this.host}:${this.port}: ${this.reason}`
  }
}

export interface HttpOptions {
  readonly host: string
  /** 0 picks a free port (read it from the HttpServer service's address). */
  readonly port: number
}

const describe = (cause: unknown): string => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  if (code === "EADDRINUSE") return "address already in use (EADDRINUSE)"
  if (code === "EADDRNOTAVAIL") return "address not available on this host (EADDRNOTAVAIL)"
  if (code === "EACCES") return "permission denied (EACCES)"
  return cause instanceof Error ? cause.message : String(cause)
}

/** A Node HTTP server listening on `options`, failing with HttpListenError when it cannot. */
const listen = (options: HttpOptions) =>
  Layer.mergeAll(
    Layer.effect(
      HttpServer.HttpServer,
      NodeHttpServer.make(() => Http.createServer(), {
        host: options.host,
        port: options.port,
        // Scrapes are short: do not hold shutdown for lingering keep-alive connections.
        gracefulShutdownTimeout: "1 second"
      }).pipe(
        Effect.mapError(
          (e) => new HttpListenError({ host: options.host, port: options.port, reason: describe(e.cause) })
        )
      )
    ),
    NodeHttpServer.layerHttpServices
  )

/**
 * Serve `/metrics`, `/health` and `/status` on `options` until the layer's scope closes. Needs
 * the node (`RaftNode`) and its observability services (`layerPrometheus` provides
 * `MetricsExposition` and `NodeHealth`); provides the `HttpServer` (its bound address).
 */
export const layerHttp = (
  options: HttpOptions
): Layer.Layer<HttpServer.HttpServer, HttpListenError, RaftNode | MetricsExposition | NodeHealth> =>
  HttpRouter.serve(routes, { disableLogger: true }).pipe(Layer.provideMerge(listen(options)))
