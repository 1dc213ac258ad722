import { Deferred, Effect, Fiber, Queue, Scheduler } from "effect"
import { describe, expect, it } from "vitest"
import { DrainingScheduler } from "../../src/runtime/scheduler.ts"

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("DrainingScheduler", () => {
  it("runs tasks scheduled by running tasks in the same event-loop turn", async () => {
    const dispatcher = new DrainingScheduler().makeDispatcher()
    const order: Array<string> = []
    dispatcher.scheduleTask(() => {
      order.push("a")
      // Registered after the scheduler's own callback: it runs once the chain is done.
      setImmediate(() => order.push("other"))
      dispatcher.scheduleTask(() => {
        order.push("b")
        dispatcher.scheduleTask(() => order.push("c"), 0)
      }, 0)
    }, 0)
    await nextImmediate()
    await nextImmediate()
    expect(order).toStrictEqual(["a", "b", "c", "other"])
  })

  it("every dispatcher shares the one task list", async () => {
    const scheduler = new DrainingScheduler()
    const [d1, d2] = [scheduler.makeDispatcher(), scheduler.makeDispatcher()]
    const order: Array<number> = []
    d1.scheduleTask(() => {
      order.push(1)
      d2.scheduleTask(() => order.push(2), 0)
    }, 0)
    setImmediate(() => order.push(3))
    await nextImmediate()
    await nextImmediate()
    expect(order).toStrictEqual([1, 2, 3])
  })

  it("a task that always reschedules itself does not starve the event loop", async () => {
    const dispatcher = new DrainingScheduler().makeDispatcher()
    let runs = 0
    let stop = false
    const spin = () => {
      runs++
      if (!stop) dispatcher.scheduleTask(spin, 0)
    }
    dispatcher.scheduleTask(spin, 0)
    await nextImmediate()
    // The bounded drain gave the turn back: this line ran while the spinner still wanted more.
    const seen = runs
    stop = true
    expect(seen).toBeGreaterThan(1)
    expect(seen).toBeLessThan(1000)
  })

  it("runs lower priorities first within a round, in order within a priority", () => {
    const dispatcher = new DrainingScheduler().makeDispatcher()
    const order: Array<string> = []
    dispatcher.scheduleTask(() => order.push("p1-a"), 1)
    dispatcher.scheduleTask(() => order.push("p0-a"), 0)
    dispatcher.scheduleTask(() => order.push("p1-b"), 1)
    dispatcher.scheduleTask(() => order.push("p-1"), -1)
    dispatcher.flush()
    expect(order).toStrictEqual(["p-1", "p0-a", "p1-a", "p1-b"])
  })

  it("runs Effect programs: forks, queues and deferreds across fibers", async () => {
    const program = Effect.gen(function* () {
      const queue = yield* Queue.unbounded<number>()
      const done = yield* Deferred.make<number>()
      const consumer = yield* Effect.forkChild(
        Effect.gen(function* () {
          let sum = 0
          for (let i = 0; i < 1000; i++) sum += yield* Queue.take(queue)
          yield* Deferred.succeed(done, sum)
        })
      )
      for (let i = 1; i <= 1000; i++) {
        yield* Queue.offer(queue, i)
        if (i % 100 === 0) yield* Effect.yieldNow
      }
      const sum = yield* Deferred.await(done)
      yield* Fiber.join(consumer)
      return sum
    })
    const sum = await Effect.runPromise(
      Effect.provideService(program, Scheduler.Scheduler, new DrainingScheduler())
    )
    expect(sum).toBe(500500)
  })
})
