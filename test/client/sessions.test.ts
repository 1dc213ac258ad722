/**
 * Write slots (src/client/sessions.ts) on their own: every seq handed out is finished however
 * its write ends, and a write stopped before it got a seq takes none.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { makeSessions, type WriteSlot } from "../../src/client/sessions.ts"

/** Lets forked fibers run up to their next suspension. */
const settle = Effect.repeat(Effect.yieldNow, { times: 5 })

const setup = (window: number, open: Effect.Effect<number, string> = Effect.succeed(1)) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    let opened = 0
    const counted = Effect.tap(open, () => Effect.sync(() => opened++))
    return { sessions: makeSessions(counted, window, scope), opens: () => opened }
  })

/** A write holding its slot until `gate` opens; the slot is recorded in `seen`. */
const holding = (seen: WriteSlot[], gate: Deferred.Deferred<void>) => (slot: WriteSlot) =>
  Effect.sync(() => seen.push(slot)).pipe(Effect.andThen(Deferred.await(gate)))

describe("write slots", () => {
  it.effect("a write interrupted while waiting for room takes no seq", () =>
    Effect.gen(function* () {
      const { sessions } = yield* setup(1)
      const seen: WriteSlot[] = []
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(sessions.withSlot(holding(seen, gate)))
      const waiting = yield* Effect.forkChild(sessions.withSlot(holding(seen, gate)))
      yield* settle
      expect(seen.map((s) => s.seq)).toEqual([1])
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(waiting)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      const session = sessions.current()
      assert(session !== undefined)
      expect([session.ack, session.outstanding]).toEqual([1, 0])
      // The next write gets seq 2: the interrupted one allocated nothing.
      yield* sessions.withSlot((slot) => Effect.sync(() => seen.push(slot)))
      expect(seen.map((s) => s.seq)).toEqual([1, 2])
      expect(session.ack).toBe(2)
    })
  )

  it.effect("a seq is finished when its write fails, dies or is interrupted", () =>
    Effect.gen(function* () {
      const { sessions } = yield* setup(8)
      const seen: WriteSlot[] = []
      const record = (slot: WriteSlot) => Effect.sync(() => seen.push(slot))
      yield* Effect.flip(sessions.withSlot((slot) => Effect.andThen(record(slot), Effect.fail("no"))))
      yield* Effect.exit(sessions.withSlot((slot) => Effect.andThen(record(slot), Effect.die("boom"))))
      const hung = yield* Effect.forkChild(
        sessions.withSlot((slot) => Effect.andThen(record(slot), Effect.never))
      )
      yield* settle
      yield* Fiber.interrupt(hung)
      expect(seen.map((s) => s.seq)).toEqual([1, 2, 3])
      const session = sessions.current()
      assert(session !== undefined)
      expect([session.ack, session.outstanding]).toEqual([3, 0])
    })
  )

  it.effect("waiters for room get it as slots finish, never beyond the window", () =>
    Effect.gen(function* () {
      const { sessions } = yield* setup(2)
      let inside = 0
      let most = 0
      const write = sessions.withSlot(() =>
        Effect.sync(() => {
          inside++
          most = Math.max(most, inside)
        }).pipe(Effect.andThen(Effect.yieldNow), Effect.ensuring(Effect.sync(() => inside--)))
      )
      yield* Effect.all(
        Array.from({ length: 10 }, () => write),
        { concurrency: "unbounded", discard: true }
      )
      expect(most).toBe(2)
      expect(sessions.current()?.ack).toBe(10)
    })
  )

  it.effect("a failed open fails the writes waiting for it; the next write opens again", () =>
    Effect.gen(function* () {
      let fail = true
      const open = Effect.suspend(() => (fail ? Effect.fail("no leader") : Effect.succeed(7)))
      const { sessions, opens } = yield* setup(4, open)
      const error = yield* Effect.flip(sessions.withSlot(() => Effect.void))
      expect(error).toBe("no leader")
      expect(sessions.current()).toBeUndefined()
      fail = false
      const slot = yield* sessions.withSlot((s) => Effect.succeed(s))
      expect([slot.session.id, slot.seq]).toEqual([7, 1])
      expect(opens()).toBe(1)
    })
  )

  it.effect("an expired session is replaced by the next write", () =>
    Effect.gen(function* () {
      let next = 1
      const { sessions } = yield* setup(
        4,
        Effect.sync(() => next++)
      )
      const a = yield* sessions.withSlot((s) => Effect.succeed(s))
      sessions.expired(a.session)
      const b = yield* sessions.withSlot((s) => Effect.succeed(s))
      expect([a.session.id, b.session.id, b.seq]).toEqual([1, 2, 1])
    })
  )
})
