/**
 * The Prometheus layer on a running in-process cluster: the exposition holds every metric of the
 * catalog with the documented names and labels, and `promtool check metrics` accepts it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import type { NodeId } from "../../src/core/types.ts"
import { all, raftMetrics as R, transportMetrics } from "../../src/metrics/catalog.ts"
import { MetricsSink } from "../../src/metrics/MetricsSink.ts"
import { layerPrometheus, MetricsExposition } from "../../src/metrics/prometheus.ts"
import { advanceUntil, leaderOf, makeCluster } from "../runtime/support.ts"
import { promtool } from "./promtool.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

/** A cluster on the Prometheus layer, with each node's services captured for the test. */
const prometheusCluster = Effect.gen(function* () {
  const services = new Map<NodeId, Context.Context<MetricsSink | MetricsExposition>>()
  const cluster = yield* makeCluster({
    metrics: (id) => {
      const captured = layerPrometheus.pipe(
        Layer.tap((ctx: Context.Context<MetricsSink | MetricsExposition>) =>
          Effect.sync(() => services.set(id, ctx))
        )
      )
      return captured
    }
  })
  const render = (id: NodeId) => Context.get(services.get(id)!, MetricsExposition).render
  const sink = (id: NodeId) => Context.get(services.get(id)!, MetricsSink)
  return { cluster, render, sink }
})

/** The value of the sample `name{labels}` in exposition text (labels written as in the text). */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("Prometheus exposition", () => {
  it.effect("holds every catalog metric, reflects the cluster, and passes promtool check metrics", () =>
    Effect.gen(function* () {
      const { cluster, render, sink } = yield* prometheusCluster
      yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
      const leader = (yield* leaderOf(cluster))!
      const fiber = yield* Effect.forkChild(
        Effect.forEach(["a", "b", "c"], (c) => cluster.node(leader).propose(bytes(c)), { concurrency: 3 })
      )
      yield* advanceUntil("applied everywhere", () =>
        Effect.succeed(cluster.nodes.every((n) => n.recorder.applied.length === 3))
      )
      yield* Fiber.join(fiber)
      // The KV server's reports (the lead's client server calls these).
      sink(leader).kvRequest("put", "ok", 0.0012)
      sink(leader).kvRequest("get", "not_leader", 0.0001)
      sink(leader).kvGauges(3, 1, 0)

      const text = yield* render(leader)
      for (const def of all) {
        assert.include(text, `# TYPE ${def.name} ${def.type}\n`, `${def.name} exported`)
        assert.include(text, `# HELP ${def.name} `, `${def.name} documented`)
      }
      const status = yield* cluster.node(leader).status
      assert.strictEqual(sample(text, "raftkv_raft_term"), status.term)
      assert.strictEqual(sample(text, "raftkv_raft_commit_index"), status.commitIndex)
      assert.strictEqual(sample(text, 'raftkv_raft_role{role="leader"}'), 1)
      assert.strictEqual(sample(text, 'raftkv_kv_requests_total{method="put",outcome="ok"}'), 1)
      assert.strictEqual(
        sample(text, 'raftkv_kv_request_duration_seconds_bucket{method="put",le="0.0025"}'),
        1
      )
      assert.strictEqual(
        sample(text, 'raftkv_kv_request_duration_seconds_bucket{method="put",le="0.001"}'),
        0
      )
      assert.strictEqual(sample(text, "raftkv_raft_commit_latency_seconds_count"), 3)
      assert.strictEqual(sample(text, "raftkv_kv_keys"), 3)
      assert.isAbove(sample(text, "process_resident_memory_bytes")!, 0)
      assert.isAbove(sample(text, "process_cpu_seconds_total")!, 0)
      assert.isAtLeast(sample(text, "raftkv_transport_frames_sent_total")!, 1)

      const check = promtool(["check", "metrics"], text)
      assert.strictEqual(check.status, 0, `promtool check metrics:\n${check.output}`)
      assert.strictEqual(check.output.trim(), "", "no lint findings")

      // Nodes keep separate registries: a follower reports its own role.
      const follower = cluster.nodes.find((n) => n.id !== leader)!.id
      assert.strictEqual(sample(yield* render(follower), 'raftkv_raft_role{role="follower"}'), 1)

      // Frames to an isolated node are dropped and counted by reason.
      yield* cluster.network.isolate(follower)
      yield* advanceUntil("a frame to the isolated node was dropped", () =>
        render(leader).pipe(
          Effect.map(
            (t) => (sample(t, 'raftkv_transport_frames_rejected_total{reason="unreachable"}') ?? 0) > 0
          )
        )
      )
      const lagged = yield* render(leader)
      assert.isDefined(sample(lagged, `raftkv_raft_replication_lag_entries{peer="${follower}"}`))
      assert.isAbove(sample(lagged, `${transportMetrics.framesRejected.name}{reason="unreachable"}`)!, 0)
      assert.isDefined(sample(lagged, `${R.persistDuration.name}_bucket{le="0.00005"}`))
      yield* cluster.shutdown
    })
  )
})
