/**
 * A simulated SDK client: the retry rules of src/client (KvClient.ts, retry.ts, sessions.ts) played
 * on virtual time, with the SDK's own pure parts (Router, ClientSession, backoffDelay).
 *
 * - Every op has a deadline covering all its retries; at expiry its outcome is unknown (a write
 *   may or may not have happened, possibly later).
 * - Writes run under the client's session, each with a seq kept through all its retries; `ack`
 *   is the session's, read at each attempt. On SessionExpired the write is redone under a new
 *   session when no attempt may have reached the log, else its outcome is unknown; StaleSequence
 *   also leaves it unknown.
 * - NotLeader / ReadNotConfirmed / LeadershipLost follow the hint (at once, the first time in a
 *   row), Busy backs off on the same node, a failed connection moves to the next node. A
 *   LeadershipLost or a connection lost with the request on it makes the write uncertain.
 * - A client runs up to `window` ops at once, sharing its session.
 */
import { backoffDelay } from "../../src/client/backoff.ts"
import { Router } from "../../src/client/router.ts"
import { ClientSession } from "../../src/client/session.ts"
import type { Op, Result } from "../lin/types.ts"
import type { Prng } from "../sim/prng.ts"
import type { History, OpRecord } from "./history.ts"
import type { Answer, Request } from "./wire.ts"

/** The SDK's default backoff (src/client/options.ts). */
const BASE_DELAY_MS = 20
const MAX_DELAY_MS = 1000

/** What a client needs from the simulation. */
export interface ClientHost {
  now(): number
  /** Send `request` to `endpoint`; the answer comes back through `onAnswer(attempt, ...)`. */
  send(client: SimClient, attempt: number, endpoint: string, request: Request): void
  /** Call `client.onTimer(timer)` at virtual time `at`. */
  wake(client: SimClient, at: number, timer: Timer): void
  /** A new global attempt id. */
  nextAttempt(): number
  /** Trace line (verbose runs only). */
  trace(line: string): void
}

/** A client timer: a retry, an op's deadline, or the end of a pause before the next op. */
export type Timer =
  | { readonly _tag: "Retry"; readonly call: Call; readonly retries: number }
  | { readonly _tag: "Deadline"; readonly call: Call }
  | { readonly _tag: "Next" }

/** One call in progress: an op of the history, or the client's OpenSession. */
export interface Call {
  readonly kind: "Get" | "Put" | "Delete" | "OpenSession"
  readonly record: OpRecord | undefined
  readonly deadline: number
  slot: { readonly session: ClientSession; readonly seq: number } | undefined
  /** An attempt under the current slot may have reached the log (SDK `onUncertain`). */
  uncertain: boolean
  /** Some attempt left the client (else a given-up op certainly had no effect). */
  sent: boolean
  /** The attempt waiting for its answer (0: none). */
  attempt: number
  retries: number
  lastWasImmediate: boolean
  done: boolean
}

export interface ClientStats {
  ops: number
  retries: number
  sessionsOpened: number
  sessionExpired: number
  staleSequence: number
  redoneWrites: number
}

export interface ClientConfig {
  readonly id: number
  readonly endpoints: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string>
  readonly window: number
  readonly sessionWindow: number
  readonly opTimeoutMs: number
  readonly thinkMs: number
  /** Padding appended to every put's value. */
  readonly valuePad: number
  /** Injected bug: every retry of a write gets a fresh seq. */
  readonly newSeqOnRetry: boolean
}

export class SimClient {
  readonly id: number
  /** No new ops once set (the final phase). */
  stopped = false
  /** Pauses of seconds now and then, so short-lived sessions expire. */
  idlePauses = true
  readonly calls = new Set<Call>()
  private readonly cfg: ClientConfig
  private readonly host: ClientHost
  private readonly history: History
  private readonly rng: Prng
  private readonly stats: ClientStats
  private readonly router: Router
  private session: ClientSession | undefined = undefined
  private opening: Call | undefined = undefined
  /** Writes waiting for a session (or for room in its window). */
  private waiting: Call[] = []
  private nextValue = 1
  /** The latest version this client saw per key (for conditional writes). */
  private readonly seen = new Map<string, number>()

  constructor(cfg: ClientConfig, host: ClientHost, history: History, rng: Prng, stats: ClientStats) {
    this.id = cfg.id
    this.cfg = cfg
    this.host = host
    this.history = history
    this.rng = rng
    this.stats = stats
    this.router = new Router(cfg.endpoints)
  }

  /** Start the client's `window` op slots, staggered. */
  start(): void {
    for (let k = 0; k < this.cfg.window; k++) {
      this.host.wake(this, this.host.now() + this.rng.exp(this.cfg.thinkMs), { _tag: "Next" })
    }
  }

  /** Ops of the history still running. */
  get busy(): boolean {
    for (const c of this.calls) if (c.record !== undefined) return true
    return false
  }

  onTimer(t: Timer): void {
    switch (t._tag) {
      case "Next":
        if (!this.stopped) this.startOp(this.randomOp())
        return
      case "Retry":
        if (!t.call.done && t.call.retries === t.retries && t.call.attempt === 0) this.attempt(t.call)
        return
      case "Deadline":
        if (!t.call.done) this.timeout(t.call)
        return
    }
  }

  /** A linearizable read of `key` with deadline `timeoutMs`, recorded as a final read. */
  finalRead(key: string, timeoutMs: number): void {
    const record = this.history.begin(this.id, key, { _tag: "Get" }, this.host.now(), true)
    this.begin("Get", record, timeoutMs)
  }

  // --- ops ------------------------------------------------------------------------------------

  private randomOp(): { key: string; op: Op } {
    const rng = this.rng
    const key = rng.pick(this.cfg.keys)
    const r = rng.next()
    const expected = (): number => (rng.chance(0.8) ? (this.seen.get(key) ?? 0) : rng.int(0, 4))
    const value = (): string => `c${this.id}-${this.nextValue++}${".".repeat(this.cfg.valuePad)}`
    if (r < 0.4) return { key, op: { _tag: "Get" } }
    if (r < 0.65) return { key, op: { _tag: "Put", value: value() } }
    if (r < 0.82) return { key, op: { _tag: "Put", value: value(), expectedVersion: expected() } }
    if (r < 0.93) return { key, op: { _tag: "Delete" } }
    return { key, op: { _tag: "Delete", expectedVersion: expected() } }
  }

  private startOp({ key, op }: { key: string; op: Op }): void {
    this.stats.ops++
    const record = this.history.begin(this.id, key, op, this.host.now())
    this.begin(op._tag, record, this.cfg.opTimeoutMs)
  }

  private begin(kind: Call["kind"], record: OpRecord | undefined, timeoutMs: number): Call {
    const call: Call = {
      kind,
      record,
      deadline: this.host.now() + timeoutMs,
      slot: undefined,
      uncertain: false,
      sent: false,
      attempt: 0,
      retries: 0,
      lastWasImmediate: false,
      done: false
    }
    this.calls.add(call)
    this.host.wake(this, call.deadline, { _tag: "Deadline", call })
    if (kind === "Put" || kind === "Delete") this.acquireSlot(call)
    else this.attempt(call)
    return call
  }

  /** A seq on the current session, opening one first if needed (one open for all writers). */
  private acquireSlot(call: Call): void {
    const s = this.session
    const seq = s?.allocate()
    if (s !== undefined && seq !== undefined) {
      call.slot = { session: s, seq }
      call.uncertain = false
      this.attempt(call)
      return
    }
    this.waiting.push(call)
    if (s === undefined && this.opening === undefined) {
      this.opening = this.begin("OpenSession", undefined, this.cfg.opTimeoutMs)
    }
  }

  /** Slots may be free again (a write finished) or a session opened: serve the waiting writes. */
  private wakeWaiting(): void {
    const ready = this.waiting.filter((c) => !c.done)
    this.waiting = []
    for (const c of ready) this.acquireSlot(c)
  }

  private request(call: Call): Request {
    const r = call.record
    if (call.kind === "OpenSession" || r === undefined) return { _tag: "OpenSession" }
    if (r.op._tag === "Get") return { _tag: "Get", key: r.key }
    const { session, seq } = call.slot!
    const fields = {
      session: session.id,
      seq,
      ack: session.ack,
      key: r.key,
      expectedVersion: r.op.expectedVersion
    }
    return r.op._tag === "Put" ? { _tag: "Put", value: r.op.value, ...fields } : { _tag: "Delete", ...fields }
  }

  private attempt(call: Call): void {
    if (this.cfg.newSeqOnRetry && call.retries > 0 && call.slot !== undefined) {
      // The injected bug: a retry that looks like a new write.
      const { session, seq } = call.slot
      const fresh = session.allocate()
      if (fresh !== undefined) {
        session.finish(seq)
        call.slot = { session, seq: fresh }
      }
    }
    call.attempt = this.host.nextAttempt()
    call.sent = true
    this.host.send(this, call.attempt, this.router.target(), this.request(call))
  }

  // --- answers --------------------------------------------------------------------------------

  onAnswer(attempt: number, endpoint: string, answer: Answer): void {
    let call: Call | undefined
    for (const c of this.calls) if (c.attempt === attempt) call = c
    if (call === undefined || call.done) return
    call.attempt = 0
    const key = call.record?.key ?? ""
    switch (answer._tag) {
      case "Value":
        this.router.confirmed(endpoint)
        if (answer.entry !== undefined) this.seen.set(key, answer.entry.version)
        else this.seen.set(key, 0)
        return this.complete(
          call,
          answer.entry === undefined
            ? { _tag: "Absent" }
            : { _tag: "Found", value: answer.entry.value, version: answer.entry.version }
        )
      case "Written":
        this.router.confirmed(endpoint)
        this.seen.set(key, answer.version)
        return this.complete(call, { _tag: "Written", version: answer.version })
      case "Deleted":
        this.router.confirmed(endpoint)
        this.seen.set(key, 0)
        return this.complete(call, { _tag: "Deleted", deleted: answer.deleted })
      case "VersionMismatch":
        this.seen.set(key, answer.currentVersion)
        return this.complete(call, { _tag: "VersionMismatch", currentVersion: answer.currentVersion })
      case "SessionOpened":
        this.router.confirmed(endpoint)
        return this.opened(call, answer.session)
      case "SessionExpired":
        return this.sessionExpired(call)
      case "StaleSequence":
        this.stats.staleSequence++
        return this.complete(call, undefined)
      case "Unreachable":
        if (answer.maybeSent) call.uncertain = true
        this.router.passOver(endpoint)
        return this.retry(call, false)
      case "Busy":
        return this.retry(call, false)
      case "LeadershipLost":
        call.uncertain = true
        return this.retry(call, this.router.redirected(endpoint, undefined))
      case "NotLeader":
      case "ReadNotConfirmed":
        return this.retry(call, this.router.redirected(endpoint, answer.leaderHint))
    }
  }

  private retry(call: Call, immediate: boolean): void {
    call.retries++
    this.stats.retries++
    const delay =
      immediate && !call.lastWasImmediate
        ? 0
        : backoffDelay(call.retries, BASE_DELAY_MS, MAX_DELAY_MS, this.rng.next())
    call.lastWasImmediate = delay === 0
    this.host.wake(this, this.host.now() + delay, { _tag: "Retry", call, retries: call.retries })
  }

  private opened(call: Call, session: number): void {
    this.stats.sessionsOpened++
    this.session = new ClientSession(session, this.cfg.sessionWindow)
    this.host.trace(`c${this.id} session ${session} opened`)
    this.finish(call)
    this.opening = undefined
    this.wakeWaiting()
  }

  private sessionExpired(call: Call): void {
    this.stats.sessionExpired++
    const slot = call.slot
    if (slot === undefined) return this.complete(call, undefined)
    if (this.session === slot.session) this.session = undefined
    if (call.uncertain) return this.complete(call, undefined)
    // No attempt can have reached the log: redo the write under a new session.
    this.stats.redoneWrites++
    slot.session.finish(slot.seq)
    call.slot = undefined
    this.acquireSlot(call)
    this.wakeWaiting()
  }

  private timeout(call: Call): void {
    if (call === this.opening) {
      // The SDK's writers waiting for this session fail with the same Timeout.
      this.opening = undefined
      this.finish(call)
      for (const c of this.waiting) if (!c.done && c.slot === undefined) this.complete(c, undefined)
      this.wakeWaiting()
      return
    }
    this.complete(call, undefined)
  }

  /** An op ends: with a result, or (undefined) unknown, or unsent when nothing ever left. */
  private complete(call: Call, result: Result | undefined): void {
    const r = call.record
    if (r !== undefined) {
      r.ret = this.host.now()
      r.result = result
      r.status = result !== undefined ? "done" : call.sent || call.slot !== undefined ? "unknown" : "unsent"
      this.host.trace(
        `c${this.id} ${r.op._tag} ${r.key} -> ${result === undefined ? r.status : JSON.stringify(result)}`
      )
    }
    this.finish(call)
    if (call.slot !== undefined) {
      call.slot.session.finish(call.slot.seq)
      this.wakeWaiting()
    }
    if (r !== undefined && !r.final && !this.stopped) this.scheduleNext()
  }

  private finish(call: Call): void {
    call.done = true
    call.attempt = 0
    this.calls.delete(call)
  }

  private scheduleNext(): void {
    const pause =
      this.idlePauses && this.rng.chance(0.01) ? this.rng.range(1500, 5000) : this.rng.exp(this.cfg.thinkMs)
    this.host.wake(this, this.host.now() + pause, { _tag: "Next" })
  }
}
