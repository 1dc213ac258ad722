/**
 * The calls a client has in flight: each one's deadline, and the client's closing.
 *
 * A call runs in a fiber of its own. At its deadline, or when the client closes, that fiber is
 * interrupted, and once it has stopped (its finalizers have run: a write's seq is given up before
 * the caller hears of it) the call fails with `Timeout` or `ClientClosed`. If it finished first,
 * its own outcome stands.
 *
 * Why not `Effect.timeout` and a race against a "closed" signal: each of those forks two fibers
 * and arms a timer per call, several times the cost of the call's own work. Here a call costs one
 * fiber (none more on the Promise facade, whose call already has one) and a queue slot. Calls
 * with the same timeout reach their deadlines in the order they started, so they wait in one
 * queue behind one timer, armed for the oldest call still running; under steady load it fires
 * about once per timeout period, not once per call. Time is read from the calling fiber's
 * `Clock` (TestClock in tests), and the timer sleeps on it.
 */
import { Cause, Clock, Context, Effect, Exit, Fiber } from "effect"
import { Timeout } from "../kv/protocol.ts"
import { ClientClosed } from "./errors.ts"

/** Why a call was stopped before it finished. */
type Stop = Timeout | ClientClosed

/** One call in flight. */
class Pending {
  readonly fiber: Fiber.Fiber<unknown, unknown>
  readonly deadline: number
  done = false
  stopped: Stop | undefined = undefined

  constructor(fiber: Fiber.Fiber<unknown, unknown>, deadline: number) {
    this.fiber = fiber
    this.deadline = deadline
  }

  stop(reason: Stop): void {
    if (this.done || this.stopped !== undefined) return
    this.stopped = reason
    this.fiber.interruptUnsafe()
  }
}

/** The real clock: its time is read from `performance.now()` (monotonic, cheap). */
const realClock = Context.get(Context.empty(), Clock.Clock)

const monotonicMillis = (clock: Clock.Clock): number =>
  clock === realClock ? performance.now() : Number(clock.monotonicTimeNanosUnsafe()) / 1e6

/** Calls with one timeout on one clock, oldest first: their deadlines come in this order. */
class DeadlineQueue {
  private calls: Pending[] = []
  private head = 0
  private timer: Fiber.Fiber<void> | undefined = undefined
  private readonly ms: number
  private readonly clock: Clock.Clock
  /** Called when the timer found nothing left to wait for: the queue may be dropped. */
  private readonly onIdle: () => void

  constructor(ms: number, clock: Clock.Clock, onIdle: () => void) {
    this.ms = ms
    this.clock = clock
    this.onIdle = onIdle
  }

  now(): number {
    return monotonicMillis(this.clock)
  }

  add(call: Pending): void {
    this.calls.push(call)
    if (this.timer === undefined) this.arm(call)
  }

  /** `call` finished: drop the finished calls at the head. */
  settled(call: Pending): void {
    call.done = true
    this.compact()
  }

  /** Stops every call still running, and the timer. */
  stopAll(reason: Stop): void {
    // Stopping a call settles it, which may replace `calls`: walk a copy.
    for (const call of this.calls.slice(this.head)) call.stop(reason)
    this.timer?.interruptUnsafe()
    this.timer = undefined
  }

  /** Skips finished calls at the head; drops the skipped part once it is most of the array. */
  private compact(): void {
    const calls = this.calls
    let head = this.head
    while (head < calls.length && calls[head]!.done) head++
    if (head === calls.length) {
      this.calls = []
      this.head = 0
    } else if (head > 1024 && head * 2 > calls.length) {
      this.calls = calls.slice(head)
      this.head = 0
    } else {
      this.head = head
    }
  }

  /** Sleeps until `call`'s deadline, in its fiber's context (the clock's services with it:
   * TestClock needs its scheduler), then expires what is due. */
  private arm(call: Pending): void {
    // A NaN deadline (a NaN timeout) is due at once, like a non-positive one.
    const delay = Math.max(0, Math.ceil(call.deadline - this.now())) || 0
    const fire = Effect.sync(() => {
      this.timer = undefined
      this.expire()
    })
    this.timer = Effect.runForkWith(call.fiber.context)(Effect.andThen(Effect.sleep(delay), fire))
  }

  private expire(): void {
    const now = this.now()
    while (this.head < this.calls.length) {
      const call = this.calls[this.head]!
      if (!call.done && call.deadline > now) break
      this.head++
      call.stop(new Timeout({ afterMs: Math.round(this.ms) }))
    }
    this.compact()
    const next = this.calls[this.head]
    if (next === undefined) this.onIdle()
    else if (this.timer === undefined) this.arm(next)
  }
}

/** A call's work and its deadline, ready to run under {@link Calls}. */
export interface Prepared<A, E> {
  readonly effect: Effect.Effect<A, E>
  /** Deadline in ms; undefined: run `effect` as it is (it fails at once, e.g. bad options). */
  readonly ms: number | undefined
}

export class Calls {
  private closing = false
  /** Queues by clock, then by timeout. */
  private readonly queues = new Map<Clock.Clock, Map<number, DeadlineQueue>>()

  /** True once {@link refuseNew} was called: new calls fail at once with ClientClosed. */
  get closed(): boolean {
    return this.closing
  }

  /** How many deadline queues are held (idle ones are dropped; for tests). */
  get queueCount(): number {
    let n = 0
    for (const byMs of this.queues.values()) n += byMs.size
    return n
  }

  private queue(ms: number, clock: Clock.Clock): DeadlineQueue {
    let byMs = this.queues.get(clock)
    if (byMs === undefined) {
      byMs = new Map()
      this.queues.set(clock, byMs)
    }
    let queue = byMs.get(ms)
    if (queue === undefined) {
      const map = byMs
      // Dropped once idle, so a client given many different timeouts does not keep a queue for each.
      const created: DeadlineQueue = new DeadlineQueue(ms, clock, () => {
        if (map.get(ms) === created) map.delete(ms)
        if (map.size === 0 && this.queues.get(clock) === map) this.queues.delete(clock)
      })
      queue = created
      byMs.set(ms, queue)
    }
    return queue
  }

  /**
   * Starts `effect` in a new fiber with `context`, under a deadline of `ms`; `onExit` hears its
   * outcome, or why it was stopped.
   */
  private start<A, E>(
    ms: number,
    effect: Effect.Effect<A, E>,
    context: Context.Context<never>,
    onExit: (exit: Exit.Exit<A, E | Stop>) => void
  ): Fiber.Fiber<A, E> {
    const clock = Context.get(context, Clock.Clock)
    const queue = this.queue(ms, clock)
    const deadline = queue.now() + ms
    const fiber = Effect.runForkWith(context)(effect)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      onExit(exit)
      return fiber
    }
    const call = new Pending(fiber, deadline)
    queue.add(call)
    fiber.addObserver((exit) => {
      queue.settled(call)
      onExit(call.stopped === undefined ? exit : Exit.fail(call.stopped))
    })
    return fiber
  }

  /** Runs a call for the Effect API: in a fiber of its own, under its deadline. */
  run<A, E>(prepared: Prepared<A, E>): Effect.Effect<A, E | Stop> {
    const { effect, ms } = prepared
    if (ms === undefined) return effect
    return Effect.withFiber((parent) => {
      if (this.closing) return Effect.fail(new ClientClosed())
      return Effect.callback<A, E | Stop>((resume) => {
        const fiber = this.start(ms, effect, parent.context, resume)
        // The caller gave up (interrupted): stop the call and wait for it.
        return Effect.suspend(() => {
          fiber.interruptUnsafe(parent.id)
          return Fiber.await(fiber)
        })
      })
    })
  }

  /** Runs a call for the Promise facade; rejects with the error itself (not a wrapper). */
  promise<A, E>(prepared: Prepared<A, E>): Promise<A> {
    const { effect, ms } = prepared
    return new Promise<A>((resolve, reject) => {
      const settle = (exit: Exit.Exit<A, E | Stop>) => {
        if (Exit.isSuccess(exit)) resolve(exit.value)
        else reject(Cause.squash(exit.cause))
      }
      if (ms === undefined) {
        Effect.runFork(effect).addObserver(settle)
        return
      }
      if (this.closing) {
        reject(new ClientClosed())
        return
      }
      this.start(ms, effect, Context.empty(), settle)
    })
  }

  /** New calls fail with ClientClosed from now on (calls in flight go on: see {@link stopAll}). */
  refuseNew(): void {
    this.closing = true
  }

  /** Stops every call in flight with ClientClosed. */
  stopAll(): void {
    for (const byMs of this.queues.values()) {
      for (const queue of byMs.values()) queue.stopAll(new ClientClosed())
    }
  }
}
