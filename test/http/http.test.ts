/**
 * The node's HTTP endpoints over a real socket, on an in-process cluster (memory transport,
 * virtual time): /health follows the node's view of the cluster, /status and /metrics answer,
 * and an address in use fails with a clear tagged error.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "effect/http"
import type { NodeId } from "../../src/core/types.ts"
import { HttpListenError, layerHttp } from "../../src/http/server.ts"
import { NodeHealth } from "../../src/metrics/health.ts"
import { layerMemory, MemoryMetrics } from "../../src/metrics/memory.ts"
import type { MetricsSink } from "../../src/metrics/MetricsSink.ts"
import { layerPrometheus, MetricsExposition } from "../../src/metrics/prometheus.ts"
import { type NodeStatus, RaftNode, type RaftNodeShape } from "../../src/runtime/RaftNode.ts"
import { advanceUntil, leaderOf, makeCluster } from "../runtime/support.ts"
import { get } from "./get.ts"

type Observability = NodeHealth | MetricsExposition

/** Serve a node's endpoints on a free local port until `scope` closes; returns the base URL. */
const serve = (node: RaftNodeShape, observability: Context.Context<Observability>, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const deps = Layer.merge(Layer.succeed(RaftNode, node), Layer.succeedContext(observability))
    const ctx = yield* Layer.buildWithScope(
      layerHttp({ host: "127.0.0.1", port: 0 }).pipe(Layer.provide(deps)),
      scope
    )
    const address = Context.get(ctx, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die(new Error("not a TCP address"))
    return `http://127.0.0.1:${address.port}`
  })

/** The health of a node reporting into `m`, with an empty exposition. */
const memoryObservability = (m: MemoryMetrics): Context.Context<Observability> =>
  Context.make(NodeHealth, m.health).pipe(
    Context.add(MetricsExposition, { render: Effect.succeed("# nothing here\n") })
  )

interface HealthBody {
  readonly status: string
  readonly healthy: boolean
  readonly reason: string
  readonly leader: number | null
}

const health = (base: string) =>
  get(`${base}/health`).pipe(
    Effect.map((r) => ({ status: r.status, body: JSON.parse(r.body) as HealthBody, type: r.contentType })),
    Effect.orDie
  )

describe("HTTP endpoints", () => {
  it.effect("/health turns 503 on a node cut off from the majority and 200 again after the heal", () =>
    Effect.gen(function* () {
      const metrics = new Map<NodeId, MemoryMetrics>()
      const cluster = yield* makeCluster({
        metrics: (id) => {
          const m = new MemoryMetrics()
          metrics.set(id, m)
          return layerMemory(m)
        }
      })
      const scope = yield* Scope.make()
      const urls = new Map<NodeId, string>()
      for (const n of cluster.nodes) {
        urls.set(n.id, yield* serve(n.node!, memoryObservability(metrics.get(n.id)!), scope))
      }
      const url = (id: NodeId) => urls.get(id)!
      const allHealthy = () =>
        Effect.forEach(cluster.nodes, (n) => health(url(n.id))).pipe(
          Effect.map((rs) => rs.every((r) => r.status === 200))
        )
      yield* advanceUntil("every node healthy", allHealthy)
      const ok = yield* health(url(1))
      assert.strictEqual(ok.body.status, "ok")
      assert.isTrue(ok.body.healthy)
      assert.include(ok.type, "application/json")

      // Cut off the leader: it steps down (CheckQuorum) while the other two elect a new one.
      const old = (yield* leaderOf(cluster))!
      yield* cluster.network.isolate(old)
      yield* advanceUntil("the isolated node is unhealthy", () =>
        health(url(old)).pipe(Effect.map((r) => r.status === 503))
      )
      const down = yield* health(url(old))
      assert.strictEqual(down.body.status, "unavailable")
      assert.isFalse(down.body.healthy)
      assert.include(down.body.reason, "no leader known")
      yield* advanceUntil("the majority is healthy under a new leader", () =>
        Effect.forEach(
          cluster.nodes.filter((n) => n.id !== old),
          (n) => health(url(n.id))
        ).pipe(Effect.map((rs) => rs.every((r) => r.status === 200 && r.body.leader !== old)))
      )
      assert.strictEqual((yield* health(url(old))).status, 503, "still cut off")

      yield* cluster.network.healAll
      yield* advanceUntil("every node healthy after the heal", allHealthy)
      assert.notStrictEqual((yield* health(url(old))).body.leader, null)
      yield* Scope.close(scope, Exit.void)
      yield* cluster.shutdown
    })
  )

  it.effect(
    "/status gives the node's state and the leader's view of its peers; /metrics the exposition",
    () =>
      Effect.gen(function* () {
        const services = new Map<NodeId, Context.Context<Observability | MetricsSink>>()
        const cluster = yield* makeCluster({
          metrics: (id) => {
            const captured = layerPrometheus.pipe(
              Layer.tap((ctx: Context.Context<Observability | MetricsSink>) =>
                Effect.sync(() => services.set(id, ctx))
              )
            )
            return captured
          }
        })
        yield* advanceUntil("a leader", () => leaderOf(cluster).pipe(Effect.map((l) => l !== undefined)))
        const leader = (yield* leaderOf(cluster))!
        yield* advanceUntil("the leader knows its followers hold its no-op", () =>
          cluster
            .node(leader)
            .status.pipe(Effect.map((s) => s.peers.length === 2 && s.peers.every((p) => p.match >= 1)))
        )
        const scope = yield* Scope.make()
        const base = yield* serve(cluster.node(leader), services.get(leader)!, scope)

        const status = yield* get(`${base}/status`)
        assert.strictEqual(status.status, 200)
        const s = JSON.parse(status.body) as NodeStatus
        assert.strictEqual(s.id, leader)
        assert.strictEqual(s.role, "leader")
        assert.strictEqual(s.leader, leader)
        assert.isAtLeast(s.commitIndex, 1)
        assert.isAtLeast(s.appliedIndex, 1)
        assert.isAtLeast(s.lastIndex, 1)
        assert.strictEqual(s.snapshotBytes, 0)
        assert.sameMembers(
          s.peers.map((p) => p.id),
          cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id)
        )
        for (const p of s.peers) assert.isAtLeast(p.match, 1)

        const metrics = yield* get(`${base}/metrics`)
        assert.strictEqual(metrics.status, 200)
        assert.strictEqual(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8")
        assert.include(metrics.body, 'raftkv_raft_role{role="leader"} 1\n')
        assert.include(metrics.body, "# TYPE process_cpu_seconds_total counter\n")

        assert.strictEqual((yield* get(`${base}/nope`)).status, 404)
        yield* Scope.close(scope, Exit.void)
        yield* cluster.shutdown
      })
  )

  it.live("an HTTP address in use fails with HttpListenError naming it", () =>
    Effect.gen(function* () {
      const blocker = Net.createServer()
      const port = yield* Effect.callback<number>((resume) => {
        blocker.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed((blocker.address() as Net.AddressInfo).port))
        )
      })
      const observability = memoryObservability(new MemoryMetrics())
      const node = { id: 1 } as unknown as RaftNodeShape
      const exit = yield* Effect.exit(
        Effect.scoped(
          Layer.build(
            layerHttp({ host: "127.0.0.1", port }).pipe(
              Layer.provide(Layer.merge(Layer.succeed(RaftNode, node), Layer.succeedContext(observability)))
            )
          )
        )
      )
      blocker.close()
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find((r) => r._tag === "Fail")
        assert.isDefined(error)
        if (error?._tag === "Fail") {
          assert.instanceOf(error.error, HttpListenError)
          assert.strictEqual(error.error.port, port)
          assert.strictEqual(
            error.error.message,
            `cannot serve HTTP on 127.0.0.1:${port}: address already in use (EADDRINUSE)`
          )
        }
      }
    })
  )
})
