/** Reporting client requests: outcome labels and durations (virtual time). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { kvMetrics as K } from "../../src/metrics/catalog.ts"
import { deriveMetrics } from "../../src/metrics/derive.ts"
import { observeRequest, requestObserver, snakeCase } from "../../src/metrics/kv.ts"
import { clockSeconds, MemoryMetrics } from "../../src/metrics/memory.ts"

class NotLeader extends Schema.TaggedError<NotLeader>()("NotLeader", {}) {}

describe("observeRequest", () => {
  it("snake_cases error tags", () => {
    assert.strictEqual(snakeCase("NotLeader"), "not_leader")
    assert.strictEqual(snakeCase("ReadNotConfirmed"), "read_not_confirmed")
    assert.strictEqual(snakeCase("KVTooLarge"), "kv_too_large")
    assert.strictEqual(snakeCase("Busy"), "busy")
  })

  it.effect("counts each request by method and outcome and times it", () =>
    Effect.gen(function* () {
      const m = new MemoryMetrics()
      const sink = deriveMetrics(m, clockSeconds(yield* Effect.clockWith(Effect.succeed)))
      const slow = yield* Effect.forkChild(observeRequest(sink, "put", Effect.sleep("30 millis")))
      yield* TestClock.adjust("30 millis")
      yield* Fiber.join(slow)
      yield* Effect.flip(observeRequest(sink, "put", Effect.fail(new NotLeader())))
      yield* Effect.exit(observeRequest(sink, "get", Effect.die("boom")))
      const stuck = yield* Effect.forkChild(observeRequest(sink, "get", Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(stuck)

      assert.strictEqual(m.value(K.requests, { method: "put", outcome: "ok" }), 1)
      assert.strictEqual(m.value(K.requests, { method: "put", outcome: "not_leader" }), 1)
      assert.strictEqual(m.value(K.requests, { method: "get", outcome: "defect" }), 1)
      assert.strictEqual(m.value(K.requests, { method: "get", outcome: "interrupted" }), 1)
      assert.deepStrictEqual(m.observations(K.requestDuration, { method: "put" }), [0.03, 0])
    })
  )

  it.effect(
    "requestObserver builds each request when it runs, and reports a throwing build as a defect",
    () =>
      Effect.gen(function* () {
        const m = new MemoryMetrics()
        const sink = deriveMetrics(m, clockSeconds(yield* Effect.clockWith(Effect.succeed)))
        const observe = requestObserver(sink, "put")
        let built = 0
        const request = observe(() => {
          built++
          return built === 1 ? Effect.sleep("20 millis") : Effect.void
        })
        assert.strictEqual(built, 0, "not built before it runs")
        const first = yield* Effect.forkChild(request)
        yield* TestClock.adjust("20 millis")
        yield* Fiber.join(first)
        yield* request
        assert.strictEqual(built, 2, "built once per run")
        const exit = yield* Effect.exit(
          observe((): Effect.Effect<void> => {
            throw new Error("bad request")
          })
        )
        assert.isTrue(exit._tag === "Failure")
        yield* Effect.flip(observe(() => Effect.fail(new NotLeader())))
        assert.strictEqual(m.value(K.requests, { method: "put", outcome: "ok" }), 2)
        assert.strictEqual(m.value(K.requests, { method: "put", outcome: "defect" }), 1)
        assert.strictEqual(m.value(K.requests, { method: "put", outcome: "not_leader" }), 1)
        assert.deepStrictEqual(m.observations(K.requestDuration, { method: "put" }), [0.02, 0, 0, 0])
      })
  )
})
