/**
 * The client's current session: opened lazily (one OpenSession however many writes wait for it),
 * replaced when the cluster says it expired, and a bounded number of write slots (seqs) on it.
 */
import { Deferred, Effect, Exit, type Scope } from "effect"
import { ClientSession } from "./session.ts"

/** A write's identity: its session and its seq (kept through every retry). */
export interface WriteSlot {
  readonly session: ClientSession
  readonly seq: number
}

export interface Sessions<E> {
  /**
   * Runs `use` with a fresh slot, waiting (interruptibly) for the session to open and for room in
   * its window. The slot is finished when `use` ends in any way, interruption included.
   */
  readonly withSlot: <A, E2, R>(
    use: (slot: WriteSlot) => Effect.Effect<A, E2, R>
  ) => Effect.Effect<A, E | E2, R>
  /** The cluster said `session` expired: the next write opens a new one. */
  readonly expired: (session: ClientSession) => void
  /** The open session, if any (for CloseSession). */
  readonly current: () => ClientSession | undefined
}

/**
 * `open` asks the cluster for a new session id. It runs in `scope` (not in the fiber of the
 * write that needed it), so a write that gives up does not cancel the open others wait for.
 */
export const makeSessions = <E>(
  open: Effect.Effect<number, E>,
  window: number,
  scope: Scope.Scope
): Sessions<E> => {
  let current: ClientSession | undefined
  let opening: Deferred.Deferred<ClientSession, E> | undefined
  let waiters: Array<Deferred.Deferred<void>> = []

  const wake = () => {
    if (waiters.length === 0) return
    const ready = waiters
    waiters = []
    for (const w of ready) Deferred.doneUnsafe(w, Exit.void)
  }

  const session: Effect.Effect<ClientSession, E> = Effect.suspend(() => {
    if (current !== undefined) return Effect.succeed(current)
    if (opening === undefined) {
      const pending = Deferred.makeUnsafe<ClientSession, E>()
      opening = pending
      const run = open.pipe(
        Effect.map((id) => new ClientSession(id, window)),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            opening = undefined
            if (Exit.isSuccess(exit)) current = exit.value
            Deferred.doneUnsafe(pending, exit)
          })
        )
      )
      return Effect.forkIn(run, scope).pipe(Effect.andThen(Deferred.await(pending)))
    }
    return Deferred.await(opening)
  })

  const roomOn = (s: ClientSession) =>
    Effect.suspend(() => {
      if (current !== s || s.outstanding < s.window) return Effect.void
      const w = Deferred.makeUnsafe<void>()
      waiters.push(w)
      return Deferred.await(w)
    })

  // Plain combinators, no generator: this runs for every write. The finalizer is in place before
  // a seq is allocated (and does nothing if none was), so an allocated seq is always finished,
  // without making the wait for a session or for room uninterruptible.
  const withSlot = <A, E2, R>(
    use: (slot: WriteSlot) => Effect.Effect<A, E2, R>
  ): Effect.Effect<A, E | E2, R> =>
    Effect.suspend(() => {
      let slot: WriteSlot | undefined
      const take = (): Effect.Effect<A, E | E2, R> => {
        const s = current
        if (s === undefined) return Effect.flatMap(session, take)
        const seq = s.allocate()
        if (seq === undefined) return Effect.flatMap(roomOn(s), take)
        slot = { session: s, seq }
        return use(slot)
      }
      return Effect.onExit(Effect.suspend(take), () => {
        if (slot !== undefined) {
          slot.session.finish(slot.seq)
          wake()
        }
        return Effect.void
      })
    })

  return {
    withSlot,
    expired: (s) => {
      if (current === s) current = undefined
      wake()
    },
    current: () => current
  }
}
