/**
 * The node's observability endpoints, as HttpRouter routes:
 * - `GET /metrics`: Prometheus text exposition of the node's metrics;
 * - `GET /health`: 200 when the node knows a leader and has applied what was committed when it
 *   learned of it, 503 otherwise; JSON with the reason either way;
 * - `GET /status`: the node's `NodeStatus` as JSON (role, term, leader, indices, log and snapshot
 *   sizes, and on a leader each follower's progress).
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { NodeHealth } from "../metrics/health.ts"
import { EXPOSITION_CONTENT_TYPE, MetricsExposition } from "../metrics/prometheus.ts"
import { RaftNode } from "../runtime/RaftNode.ts"

const noStore = { "cache-control": "no-store" }

const metrics = Effect.gen(function* () {
  const exposition = yield* MetricsExposition
  const body = yield* exposition.render
  return HttpServerResponse.text(body, { contentType: EXPOSITION_CONTENT_TYPE, headers: noStore })
})

const health = Effect.gen(function* () {
  const report = (yield* NodeHealth).report()
  return HttpServerResponse.jsonUnsafe(
    { status: report.healthy ? "ok" : "unavailable", ...report },
    { status: report.healthy ? 200 : 503, headers: noStore }
  )
})

const status = Effect.gen(function* () {
  const s = yield* (yield* RaftNode).status
  return HttpServerResponse.jsonUnsafe(s, { headers: noStore })
})

/** The three routes; they need the node, its metrics exposition and its health. */
export const routes = Layer.mergeAll(
  HttpRouter.add("GET", "/metrics", metrics),
  HttpRouter.add("GET", "/health", health),
  HttpRouter.add("GET", "/status", status)
)
