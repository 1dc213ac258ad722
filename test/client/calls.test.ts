/**
 * The per-call deadline and close mechanism (src/client/calls.ts) on its own, with effects that
 * stand for calls. The Effect API runs under TestClock (virtual time); the Promise runner uses
 * the real clock, with short deadlines and bounded waits.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Calls } from "../../src/client/calls.ts"
import { ClientClosed, Timeout } from "../../src/client/index.ts"

/** A call that never answers, and notes that it was interrupted (after a scheduler turn, so a
 * caller that did not wait for its finalizers would not see it). */
const hanging = (log: string[], name: string) =>
  Effect.never.pipe(
    Effect.onInterrupt(() => Effect.yieldNow.pipe(Effect.andThen(Effect.sync(() => log.push(name)))))
  )

/** Lets forked fibers run up to their next suspension. */
const settle = Effect.repeat(Effect.yieldNow, { times: 5 })

describe("Calls.run (Effect API, virtual time)", () => {
  it.effect("fails with Timeout at the deadline, not before, after the call's finalizers ran", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      const log: string[] = []
      const fiber = yield* Effect.forkChild(calls.run({ effect: hanging(log, "a"), ms: 300 }))
      yield* settle
      yield* TestClock.adjust(299)
      yield* settle
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.await(fiber)
      assert(Exit.isFailure(exit))
      const error = Cause.squash(exit.cause)
      assert.instanceOf(error, Timeout)
      expect(error.afterMs).toBe(300)
      expect(log).toEqual(["a"])
    })
  )

  it.effect("expires calls by their own deadlines, whatever their timeouts and start times", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      const log: string[] = []
      const run = (name: string, ms: number) =>
        Effect.forkChild(calls.run({ effect: hanging(log, name), ms }))
      const a = yield* run("a", 300) // due at 300
      const c = yield* run("c", 100) // due at 100
      yield* settle
      yield* TestClock.adjust(200)
      const b = yield* run("b", 300) // due at 500
      yield* settle
      expect(log).toEqual(["c"])
      assert(Exit.isFailure(yield* Fiber.await(c)))
      yield* TestClock.adjust(100) // t = 300
      yield* Fiber.await(a)
      yield* settle
      expect(log).toEqual(["c", "a"])
      expect(b.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(199) // t = 499
      yield* settle
      expect(b.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.await(b)
      assert(Exit.isFailure(exit))
      assert.instanceOf(Cause.squash(exit.cause), Timeout)
      expect(log).toEqual(["c", "a", "b"])
    })
  )

  it.effect("a call that ends before its deadline keeps its outcome, and is not expired later", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      const gate = yield* Deferred.make<number, string>()
      const ok = yield* Effect.forkChild(calls.run({ effect: Deferred.await(gate), ms: 100 }))
      const failing = yield* Effect.forkChild(
        calls.run({ effect: Effect.andThen(Effect.yieldNow, Effect.fail("mine" as const)), ms: 100 })
      )
      yield* settle
      yield* Deferred.succeed(gate, 7)
      expect(yield* Fiber.join(ok)).toBe(7)
      expect(yield* Effect.flip(Fiber.join(failing))).toBe("mine")
      // The timer armed for them fires and finds nothing due; a later call still gets its own deadline.
      const log: string[] = []
      const later = yield* Effect.forkChild(calls.run({ effect: hanging(log, "later"), ms: 100 }))
      yield* settle
      yield* TestClock.adjust(99)
      yield* settle
      expect(later.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(1)
      assert.instanceOf(
        Cause.squash(((yield* Fiber.await(later)) as Exit.Failure<never, unknown>).cause),
        Timeout
      )
    })
  )

  for (const slowHead of [true, false]) {
    it.effect(
      `keeps every deadline when many calls finish out of order${slowHead ? " behind a slow one" : ""}`,
      () =>
        Effect.gen(function* () {
          const calls = new Calls()
          const log: string[] = []
          const slow = slowHead
            ? yield* Effect.forkChild(calls.run({ effect: hanging(log, "slow"), ms: 1000 }))
            : undefined
          // 3000 calls queued (due at 1000) that all end at once, after `last` (due at 1500) is queued.
          const gate = yield* Deferred.make<void>()
          const quick = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: 3000 }, (_, i) => i),
              () => calls.run({ effect: Deferred.await(gate), ms: 1000 }),
              { concurrency: "unbounded", discard: true }
            )
          )
          yield* settle
          yield* TestClock.adjust(500)
          const last = yield* Effect.forkChild(calls.run({ effect: hanging(log, "last"), ms: 1000 }))
          yield* settle
          yield* Deferred.succeed(gate, undefined)
          yield* Fiber.join(quick)
          yield* TestClock.adjust(500) // t = 1000
          yield* settle
          expect(log).toEqual(slowHead ? ["slow"] : [])
          if (slow !== undefined) assert(Exit.isFailure(yield* Fiber.await(slow)))
          expect(last.pollUnsafe()).toBeUndefined()
          yield* TestClock.adjust(499)
          yield* settle
          expect(last.pollUnsafe()).toBeUndefined()
          yield* TestClock.adjust(1) // t = 1500
          yield* settle
          const exit = last.pollUnsafe()
          assert(exit !== undefined && Exit.isFailure(exit))
          assert.instanceOf(Cause.squash(exit.cause), Timeout)
          expect(log).toEqual(slowHead ? ["slow", "last"] : ["last"])
        })
    )
  }

  it.effect("drops the queue of a timeout once its calls are over and its timer has fired", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      // Calls with 50 different timeouts, each ending before its deadline.
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => 100 + i),
        (ms) => calls.run({ effect: Effect.as(Effect.yieldNow, ms), ms }),
        { concurrency: "unbounded", discard: true }
      )
      expect(calls.queueCount).toBe(50)
      yield* TestClock.adjust(200)
      yield* settle
      expect(calls.queueCount).toBe(0)
      // A timeout used again gets a new queue that still keeps its deadline.
      const log: string[] = []
      const again = yield* Effect.forkChild(calls.run({ effect: hanging(log, "again"), ms: 100 }))
      yield* settle
      yield* TestClock.adjust(100)
      assert.instanceOf(yield* Effect.flip(Fiber.join(again)), Timeout)
    })
  )

  it.effect("closing stops the calls in flight with ClientClosed, and refuses new ones", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      const log: string[] = []
      const a = yield* Effect.forkChild(calls.run({ effect: hanging(log, "a"), ms: 1000 }))
      const b = yield* Effect.forkChild(calls.run({ effect: hanging(log, "b"), ms: 5000 }))
      yield* settle
      calls.refuseNew()
      // Refusing new calls leaves those in flight alone (close runs CloseSession meanwhile).
      expect(a.pollUnsafe()).toBeUndefined()
      calls.stopAll()
      for (const fiber of [a, b]) {
        assert.instanceOf(yield* Effect.flip(Fiber.join(fiber)), ClientClosed)
      }
      expect([...log].sort()).toEqual(["a", "b"])
      let ran = false
      const refused = yield* Effect.flip(calls.run({ effect: Effect.sync(() => (ran = true)), ms: 1000 }))
      assert.instanceOf(refused, ClientClosed)
      expect(ran).toBe(false)
    })
  )

  it.effect("interrupting the caller interrupts the call and waits for it", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      const log: string[] = []
      const fiber = yield* Effect.forkChild(calls.run({ effect: hanging(log, "a"), ms: 1000 }))
      yield* settle
      yield* Fiber.interrupt(fiber)
      expect(log).toEqual(["a"])
    })
  )

  it.effect("a call without a deadline (a defect in its options) runs as it is, even when closed", () =>
    Effect.gen(function* () {
      const calls = new Calls()
      calls.refuseNew()
      const exit = yield* Effect.exit(calls.run({ effect: Effect.die(new RangeError("bad")), ms: undefined }))
      assert(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    })
  )
})

describe("Calls.promise (Promise facade, real time)", () => {
  it.live("resolves the value, rejects with the call's own error, or Timeout at the deadline", () =>
    Effect.promise(async () => {
      const calls = new Calls()
      expect(
        await calls.promise({ effect: Effect.andThen(Effect.yieldNow, Effect.succeed(5)), ms: 1000 })
      ).toBe(5)
      expect(await calls.promise({ effect: Effect.succeed(6), ms: 1000 })).toBe(6)
      await expect(
        calls.promise({ effect: Effect.fail(new ClientClosed()), ms: 1000 })
      ).rejects.toBeInstanceOf(ClientClosed)
      const log: string[] = []
      const started = performance.now()
      const error = await calls.promise({ effect: hanging(log, "a"), ms: 50 }).catch((e: unknown) => e)
      const elapsed = performance.now() - started
      assert.instanceOf(error, Timeout)
      expect(log).toEqual(["a"])
      expect(elapsed).toBeGreaterThanOrEqual(45)
      expect(elapsed).toBeLessThan(2000)
    })
  )

  it.live("closing rejects the calls in flight with ClientClosed at once, and new ones", () =>
    Effect.promise(async () => {
      const calls = new Calls()
      const log: string[] = []
      const pending = calls.promise({ effect: hanging(log, "a"), ms: 60_000 }).catch((e: unknown) => e)
      calls.refuseNew()
      calls.stopAll()
      assert.instanceOf(await pending, ClientClosed)
      expect(log).toEqual(["a"])
      await expect(calls.promise({ effect: Effect.succeed(1), ms: 1000 })).rejects.toBeInstanceOf(
        ClientClosed
      )
    })
  )
})
