/**
 * An Effect scheduler that runs a chain of wake-ups in one go.
 *
 * Effect's default scheduler gives every fiber and queue its own dispatcher, each flushing on its
 * own `setImmediate`; a task scheduled while tasks run waits for the next turn of Node's event
 * loop. A request in a node crosses several queues (socket reader -> transport inbox -> event
 * loop -> peer link writer), so one message paid one event-loop turn per hop, with whatever I/O
 * arrived in between handled first. Here all dispatchers share one task list that is drained
 * repeatedly in the same `setImmediate` callback, up to {@link MAX_ROUNDS} rounds, so such a chain
 * completes at once; after that the rest waits for the next turn, so I/O is never starved.
 *
 * Priorities are honoured within a round (lower first), as in Effect's `MixedScheduler`; the
 * yield policy (`shouldYield`) is the same.
 */
import type { Fiber, Scheduler } from "effect"

/** Rounds of newly scheduled tasks run in one callback before yielding to the event loop. */
const MAX_ROUNDS = 16

type Task = () => void

class SharedDispatcher implements Scheduler.SchedulerDispatcher {
  // Tasks of the current round by priority; a round is taken whole before it runs.
  private buckets: Array<[priority: number, tasks: Array<Task>]> = []
  private scheduled = false

  scheduleTask(task: Task, priority: number): void {
    const buckets = this.buckets
    let i = 0
    while (i < buckets.length && buckets[i]![0] < priority) i++
    const bucket = buckets[i]
    if (bucket !== undefined && bucket[0] === priority) bucket[1].push(task)
    else buckets.splice(i, 0, [priority, [task]])
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.run)
    }
  }

  private readonly run = (): void => {
    this.scheduled = false
    for (let round = 0; round < MAX_ROUNDS && this.buckets.length > 0; round++) this.runRound()
    if (this.buckets.length > 0 && !this.scheduled) {
      this.scheduled = true
      setImmediate(this.run)
    }
  }

  private runRound(): void {
    const buckets = this.buckets
    this.buckets = []
    for (const [, tasks] of buckets) for (const task of tasks) task()
  }

  flush(): void {
    while (this.buckets.length > 0) this.runRound()
  }
}

/**
 * A scheduler whose dispatchers all share one drained task list (see the module comment).
 * Provide it as `Scheduler.Scheduler` for a whole program.
 */
export class DrainingScheduler implements Scheduler.Scheduler {
  readonly executionMode = "async" as const
  private readonly dispatcher = new SharedDispatcher()

  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return fiber.currentOpCount >= fiber.cache.maxOpsBeforeYield
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    return this.dispatcher
  }
}
