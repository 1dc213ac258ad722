/**
 * The `RaftNode` service: one Raft node running the pure core on an event loop.
 *
 * One fiber owns the core's state. It drains everything waiting in its input queue as one batch
 * (messages, timer ticks, proposals, reads), steps the core over the batch, then interprets the
 * commands of the whole batch:
 * 1. messages that need no durability go out at once (a leader replicates while it writes,
 *    dissertation 10.2.1);
 * 2. all log and hard-state writes of the turn go to storage as ONE synced batch (group commit:
 *    while it is written, the next batch accumulates, so throughput grows with load);
 * 3. then the messages that were held for that write (votes, append acknowledgements), then the
 *    `Persisted` event is stepped, and finally the state machine commands run in emitted order.
 *    Applies of entries that were durable before the write (on a leader, every committed entry)
 *    run before it, so their clients are not kept waiting for the next batch's fsync.
 * The loop never blocks on the network, and the only thing it waits for is the disk.
 */
import { Clock, Context, Deferred, Effect, Fiber, Layer, Queue, Random, type Scope } from "effect"
import type { RaftConfig } from "../core/config.ts"
import * as Log from "../core/log.ts"
import { initial, step } from "../core/raft.ts"
import type { RaftState } from "../core/state.ts"
import type { Command, Envelope, Event, NodeId, Role, SendSnapshotChunk } from "../core/types.ts"
import { MetricsSink } from "../metrics/MetricsSink.ts"
import { LogStore } from "../storage/LogStore.ts"
import { Transport } from "../transport/transport.ts"
import {
  Busy,
  NodeStopped,
  NotLeader,
  OutcomeUnknown,
  ProposalLost,
  type ProposeError,
  type ReadError,
  ReadNotConfirmed,
  TransferInProgress
} from "./errors.ts"
import { StateMachine } from "./StateMachine.ts"

export interface NodeOptions {
  readonly raft: RaftConfig
  /** Take a snapshot once the log applied since the last one exceeds this many bytes. */
  readonly snapshotThresholdBytes: number
  /** Proposals waiting for their outcome before new ones are refused with Busy. */
  readonly maxPendingProposals: number
  /** Granularity of the timer that delivers Ticks (ms). */
  readonly tickMs: number
}

export interface PeerStatus {
  readonly id: NodeId
  readonly match: number
  readonly next: number
  readonly mode: string
}

export interface NodeStatus {
  readonly id: NodeId
  readonly role: Role
  readonly term: number
  readonly leader: NodeId | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly firstIndex: number
  readonly lastIndex: number
  readonly snapshotIndex: number
  readonly snapshotBytes: number
  /** Bytes of log entries applied since the last snapshot (what the snapshot threshold measures). */
  readonly logBytes: number
  /** Proposals submitted here and not yet answered. */
  readonly pendingProposals: number
  /** The leader's view of each follower (empty on followers). */
  readonly peers: ReadonlyArray<PeerStatus>
}

export interface NodeCounters {
  readonly commitIndex: number
  readonly pendingProposals: number
}

export interface Proposal {
  readonly index: number
  readonly result: unknown
}

export interface RaftNodeShape {
  readonly id: NodeId
  /** Append `data` to the log; succeeds with the state machine's result once it is applied here. */
  readonly propose: (data: Uint8Array) => Effect.Effect<Proposal, ProposeError>
  /**
   * A linearizable read barrier (ReadIndex, dissertation 6.4): succeeds once this node's state
   * machine has applied everything committed before the call; the caller then reads its state.
   */
  readonly readBarrier: Effect.Effect<number, ReadError>
  readonly status: Effect.Effect<NodeStatus>
  /** The few figures a client request needs, without building the whole status. */
  readonly counters: Effect.Effect<NodeCounters>
  readonly transferLeadership: (to: NodeId) => Effect.Effect<void>
  /** Completes (with the reason) when the node stops, e.g. after a storage failure. */
  readonly stopped: Effect.Effect<string>
}

export class RaftNode extends Context.Service<RaftNode, RaftNodeShape>()("raftkv/RaftNode") {}

type Input =
  | { readonly _tag: "Receive"; readonly envelope: Envelope }
  | { readonly _tag: "Tick" }
  | {
      readonly _tag: "Propose"
      readonly data: Uint8Array
      readonly deferred: Deferred.Deferred<Proposal, ProposeError>
    }
  | { readonly _tag: "Read"; readonly deferred: Deferred.Deferred<number, ReadError> }
  | { readonly _tag: "SnapshotTaken"; readonly index: number; readonly size: number }
  | { readonly _tag: "Transfer"; readonly to: NodeId }

interface Waiter {
  readonly term: number
  readonly deferred: Deferred.Deferred<Proposal, ProposeError>
}

/**
 * The state-machine commands of one turn, with snapshot restores that a later one supersedes left
 * out. A turn can install two snapshots (a restarted follower sent one, then a newer one, in
 * the same batch of messages): by the time the commands run, storage holds only the newer file,
 * so the first restore cannot be read, and it need not be, since the second replaces the state
 * it would build. Entries applied between the two are covered by the second snapshot; reads
 * settled between them are settled after it, so they observe the restored state.
 */
export const supersededRestoresDropped = (commands: ReadonlyArray<Command>): ReadonlyArray<Command> => {
  let last = -1
  for (let k = 0; k < commands.length; k++) if (commands[k]!._tag === "RestoreSnapshot") last = k
  if (last <= 0) return commands
  const reads = commands.slice(0, last).filter((c) => c._tag === "ReadReady" || c._tag === "ReadFailed")
  return [commands[last]!, ...reads, ...commands.slice(last + 1)]
}

/**
 * How many of the leading state machine `commands` may run before the turn's disk write: applies
 * of entries up to `durableIndex` (durable here already, so their clients may be answered) and
 * read outcomes, up to the first other command. A snapshot restore waits: it may read the
 * snapshot this write completes.
 */
export const durableNow = (commands: ReadonlyArray<Command>, durableIndex: number): number => {
  let k = 0
  for (; k < commands.length; k++) {
    const c = commands[k]!
    if (c._tag === "Apply") {
      if (c.firstIndex + c.entries.length - 1 > durableIndex) break
    } else if (c._tag !== "ReadReady" && c._tag !== "ReadFailed") break
  }
  return k
}

/** Build and start a node; the loop runs until the scope closes or storage fails. */
export const make = (
  options: NodeOptions
): Effect.Effect<RaftNodeShape, unknown, LogStore | Transport | StateMachine | MetricsSink | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* LogStore
    const transport = yield* Transport
    const sm = yield* StateMachine
    const metrics = yield* MetricsSink
    const clock = yield* Clock.Clock
    const rng = yield* Random.Random
    const self = options.raft.id

    const inputs = yield* Queue.unbounded<Input>()
    const stoppedWith = yield* Deferred.make<string>()

    // --- loop-owned state (only the loop fiber writes it)
    const restored = yield* store.load
    let state: RaftState
    let timerAt = Number.POSITIVE_INFINITY
    let nextProposalId = 1
    let nextReadId = 1
    let pendingProposals = 0
    let logBytesSinceSnapshot = 0
    let snapshotInFlight = false
    let stopped = false
    const batches = new Map<number, ReadonlyArray<Deferred.Deferred<Proposal, ProposeError>>>()
    const waiters = new Map<number, Waiter>()
    const readWaiters = new Map<number, Deferred.Deferred<number, ReadError>>()

    // Raft's timers run on the monotonic clock: a wall-clock step must not fire or stall elections.
    const now = () => Number(clock.monotonicTimeNanosUnsafe()) / 1e6
    // Durations reported to metrics: monotonic and sub-millisecond (an fsync takes ~0.5 ms).
    const mark = () => clock.monotonicTimeNanosUnsafe()
    const secondsSince = (start: bigint) => Number(clock.monotonicTimeNanosUnsafe() - start) / 1e9
    const event = <E extends Omit<Event, "now" | "random">>(e: E) => ({
      ...e,
      now: now(),
      random: rng.nextDoubleUnsafe()
    })

    const resolveProposal = (
      d: Deferred.Deferred<Proposal, ProposeError>,
      r: Effect.Effect<Proposal, ProposeError>
    ) => {
      pendingProposals--
      Deferred.doneUnsafe(d, r)
    }

    const settleReads = (ids: ReadonlyArray<number>, outcome: Effect.Effect<number, ReadError>) => {
      for (const id of ids) {
        const d = readWaiters.get(id)
        if (d !== undefined) {
          readWaiters.delete(id)
          Deferred.doneUnsafe(d, outcome)
        }
      }
    }

    /** Run the state machine commands of a turn, in the order the core emitted them. */
    const runStateMachine = (cmd: Command) =>
      Effect.gen(function* () {
        switch (cmd._tag) {
          case "Apply": {
            for (let k = 0; k < cmd.entries.length; k++) {
              const index = cmd.firstIndex + k
              const entry = cmd.entries[k]!
              const result = sm.apply(index, entry)
              logBytesSinceSnapshot += Log.entryBytes(entry)
              const w = waiters.get(index)
              if (w !== undefined) {
                waiters.delete(index)
                resolveProposal(
                  w.deferred,
                  w.term === entry.term
                    ? Effect.succeed({ index, result })
                    : Effect.fail(new ProposalLost({ index }))
                )
              }
            }
            metrics.applied(cmd.firstIndex + cmd.entries.length - 1, cmd.entries.length)
            return
          }
          case "RestoreSnapshot": {
            const started = mark()
            yield* sm.restore(cmd.snapshot, store.openSnapshot(cmd.snapshot))
            yield* Effect.logInfo(
              `raft: state machine restored from the snapshot at index ${cmd.snapshot.index} (term ${cmd.snapshot.term}, ${cmd.snapshot.size} bytes)`
            )
            logBytesSinceSnapshot = 0
            // Proposals the snapshot covers may or may not be in it: their outcome is unknown here.
            for (const [index, w] of waiters) {
              if (index <= cmd.snapshot.index) {
                waiters.delete(index)
                resolveProposal(w.deferred, Effect.fail(new OutcomeUnknown({ index })))
              }
            }
            metrics.snapshotRestored(cmd.snapshot, secondsSince(started))
            return
          }
          case "ReadReady":
            return settleReads(cmd.ids, Effect.succeed(cmd.index))
          case "ReadFailed":
            return settleReads(
              cmd.ids,
              Effect.fail(new ReadNotConfirmed({ reason: cmd.reason, leader: cmd.leader }))
            )
          default:
            return
        }
      })

    const sendSnapshotChunk = (c: SendSnapshotChunk) =>
      store.readSnapshotChunk(c.snapshot, c.offset, c.length).pipe(
        Effect.flatMap((data) => {
          const message = {
            _tag: "InstallSnapshot",
            term: c.term,
            snapshot: c.snapshot,
            offset: c.offset,
            data,
            done: c.done
          } as const
          metrics.sent(c.to, message)
          return transport.send({ from: self, to: c.to, message })
        }),
        // A snapshot replaced meanwhile: the core restarts the transfer with the new one.
        Effect.catch((e) => Effect.logWarning(`snapshot chunk for node ${c.to} not sent: ${e._tag}`))
      )

    /** Step the core over one event, collecting its commands. */
    const stepInto = (out: Command[], e: Event) => {
      const r = step(state, e)
      if (r.state.commitIndex > state.commitIndex) metrics.committed(r.state.commitIndex)
      state = r.state
      for (const c of r.commands) out.push(c)
    }

    /** Interpret the commands of one turn (see the module comment for the order). */
    const interpret = (first: Command[]) =>
      Effect.gen(function* () {
        const smCommands: Command[] = []
        const compactions: number[] = []
        let pending = first
        while (pending.length > 0) {
          const writes: Array<Extract<Command, { _tag: "Persist" | "PersistSnapshotChunk" }>> = []
          const held: Array<Extract<Command, { _tag: "Send" }>> = []
          let sentNow = false
          for (const c of pending) {
            switch (c._tag) {
              case "Persist":
              case "PersistSnapshotChunk":
                writes.push(c)
                break
              case "Send":
                if (c.afterWrite === undefined) {
                  sentNow = true
                  metrics.sent(c.to, c.message)
                  yield* transport.send({ from: self, to: c.to, message: c.message })
                } else held.push(c)
                break
              case "SetTimer":
                timerAt = c.at
                break
              case "SendSnapshotChunk":
                yield* sendSnapshotChunk(c)
                break
              case "CompactLog":
                compactions.push(c.upTo)
                break
              case "Proposed": {
                const batch = batches.get(c.id)
                batches.delete(c.id)
                if (batch !== undefined) {
                  for (let k = 0; k < batch.length; k++) {
                    const index = c.firstIndex + k
                    // A waiter of an older term at this index: its entry was overwritten by
                    // another leader before this node applied it, so it was never committed.
                    const stale = waiters.get(index)
                    if (stale !== undefined)
                      resolveProposal(stale.deferred, Effect.fail(new ProposalLost({ index })))
                    waiters.set(index, { term: c.term, deferred: batch[k]! })
                  }
                  metrics.proposed(c.firstIndex, batch.length)
                }
                break
              }
              case "ProposalDropped": {
                const batch = batches.get(c.id) ?? []
                batches.delete(c.id)
                const error =
                  c.reason === "NotLeader"
                    ? new NotLeader({ leader: c.leader })
                    : new TransferInProgress({ leader: c.leader })
                for (const d of batch) resolveProposal(d, Effect.fail(error))
                break
              }
              case "RoleChanged":
                metrics.roleChanged(c.role, c.term, c.leader)
                yield* Effect.logInfo(
                  `raft: ${c.role} in term ${c.term}${c.leader !== 0 ? `, leader ${c.leader}` : ", no leader known"}`
                )
                break
              default:
                smCommands.push(c)
            }
          }
          pending = []
          if (writes.length > 0) {
            // What is already durable need not wait for this write: apply it first, so its
            // clients are answered before the disk write instead of after it.
            const early = durableNow(smCommands, state.durableIndex)
            if (early > 0) {
              for (const c of smCommands.splice(0, early)) yield* runStateMachine(c)
            }
            // Let the peer links put this turn's messages on the wire, and the answers out,
            // before the (blocking) disk write: followers start their own write sooner (1-client
            // p50 -1% to -8%).
            if (sentNow || early > 0) yield* Effect.yieldNow
            const started = mark()
            yield* store.write(writes)
            metrics.persisted(writes, secondsSince(started))
          }
          // Every write issued so far is durable now: what waited for one may leave.
          for (const c of held) {
            metrics.sent(c.to, c.message)
            yield* transport.send({ from: self, to: c.to, message: c.message })
          }
          if (writes.length > 0) {
            stepInto(pending, event({ _tag: "Persisted", writeId: writes[writes.length - 1]!.writeId }))
          }
        }
        for (const c of supersededRestoresDropped(smCommands)) yield* runStateMachine(c)
        for (const upTo of compactions) yield* store.compact(upTo)
      })

    /** Start a snapshot when the applied log since the last one outgrew the threshold. */
    const maybeSnapshot = Effect.gen(function* () {
      if (snapshotInFlight || logBytesSinceSnapshot < options.snapshotThresholdBytes) return
      const index = state.appliedIndex
      const term = Log.termAt(state.log, index)
      if (term === undefined || index <= (state.snapshot?.index ?? 0)) return
      snapshotInFlight = true
      // The snapshot covers everything applied so far: count again from here. Resetting only when
      // it completes let a turn that ran before its `SnapshotTaken` was stepped start a second
      // snapshot of the same log (every other snapshot was one).
      const covered = logBytesSinceSnapshot
      logBytesSinceSnapshot = 0
      const chunks = sm.snapshot()
      const started = mark()
      yield* store.saveSnapshot({ index, term }, chunks).pipe(
        Effect.tap((meta) =>
          Effect.sync(() => {
            metrics.snapshotCreated(meta, secondsSince(started))
            Queue.offerUnsafe(inputs, { _tag: "SnapshotTaken", index: meta.index, size: meta.size })
          })
        ),
        Effect.catch((e) => {
          // Not covered after all: the next turn tries again.
          logBytesSinceSnapshot += covered
          return Effect.logError(`snapshot at ${index} failed: ${String(e)}`)
        }),
        Effect.ensuring(Effect.sync(() => (snapshotInFlight = false))),
        Effect.forkDetach
      )
    })

    /** One loop turn: everything waiting, as one batch. */
    const turn = (batch: ReadonlyArray<Input>) =>
      Effect.gen(function* () {
        const out: Command[] = []
        const proposals: Array<Extract<Input, { _tag: "Propose" }>> = []
        const reads: Array<Extract<Input, { _tag: "Read" }>> = []
        for (const input of batch) {
          switch (input._tag) {
            case "Receive":
              metrics.received(input.envelope.from, input.envelope.message)
              stepInto(
                out,
                event({ _tag: "Receive", from: input.envelope.from, message: input.envelope.message })
              )
              break
            case "Tick":
              if (now() >= timerAt) stepInto(out, event({ _tag: "Tick" }))
              break
            case "Propose":
              proposals.push(input)
              break
            case "Read":
              reads.push(input)
              break
            case "SnapshotTaken":
              stepInto(out, event({ _tag: "SnapshotTaken", index: input.index, size: input.size }))
              break
            case "Transfer":
              stepInto(out, event({ _tag: "TransferLeadership", to: input.to }))
              break
          }
        }
        const readIds = reads.map((r) => {
          const id = nextReadId++
          readWaiters.set(id, r.deferred)
          return id
        })
        if (proposals.length > 0) {
          // One Propose per turn: the whole batch becomes one append and one replication message,
          // and the turn's reads ride on it (their heartbeat round travels with the entries).
          const id = nextProposalId++
          batches.set(
            id,
            proposals.map((p) => p.deferred)
          )
          const data = proposals.map((p) => p.data)
          stepInto(
            out,
            event(
              readIds.length > 0
                ? { _tag: "Propose", id, data, reads: readIds }
                : { _tag: "Propose", id, data }
            )
          )
        } else if (readIds.length > 0) {
          stepInto(out, event({ _tag: "ReadIndex", ids: readIds }))
        }
        yield* interpret(out)
        yield* maybeSnapshot
        metrics.turn(batch.length, Queue.sizeUnsafe(inputs), state, logBytesSinceSnapshot)
      })

    /** Fail everything still waiting: the node is going away. */
    const failAll = (reason: string) =>
      Effect.sync(() => {
        stopped = true
        const error = new NodeStopped({ reason })
        for (const d of [...batches.values()].flat()) Deferred.doneUnsafe(d, Effect.fail(error))
        for (const w of waiters.values()) Deferred.doneUnsafe(w.deferred, Effect.fail(error))
        for (const d of readWaiters.values()) Deferred.doneUnsafe(d, Effect.fail(error))
        batches.clear()
        waiters.clear()
        readWaiters.clear()
        for (const input of Queue.clear(inputs).pipe(Effect.runSync)) {
          if (input._tag === "Propose") Deferred.doneUnsafe(input.deferred, Effect.fail(error))
          if (input._tag === "Read") Deferred.doneUnsafe(input.deferred, Effect.fail(error))
        }
      })

    // --- start: the core from what storage recovered
    const boot = initial(options.raft, restored, now(), rng.nextDoubleUnsafe())
    state = boot.state
    yield* interpret([...boot.commands])
    metrics.turn(0, 0, state, logBytesSinceSnapshot)

    const loop = Effect.gen(function* () {
      while (true) {
        const batch = yield* Queue.takeAll(inputs)
        // A turn runs to completion: shutdown interrupts only between turns.
        yield* Effect.uninterruptible(turn(batch))
      }
    })

    const ticker = Effect.gen(function* () {
      while (true) {
        yield* Effect.sleep(options.tickMs)
        if (now() >= timerAt) Queue.offerUnsafe(inputs, { _tag: "Tick" })
      }
    })

    const forwarder = Effect.gen(function* () {
      while (true) {
        const envelopes = yield* Queue.takeAll(transport.incoming)
        for (const envelope of envelopes) Queue.offerUnsafe(inputs, { _tag: "Receive", envelope })
      }
    })

    const loopFiber = yield* loop.pipe(
      Effect.catchCause((cause) =>
        Effect.gen(function* () {
          const reason = `event loop stopped: ${String(cause)}`
          yield* Effect.logError(reason)
          yield* failAll(reason)
          yield* Deferred.succeed(stoppedWith, reason)
        })
      ),
      Effect.forkScoped
    )
    yield* Effect.forkScoped(ticker)
    yield* Effect.forkScoped(forwarder)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(loopFiber)
        yield* failAll("node shutting down")
        yield* Deferred.succeed(stoppedWith, "node shut down")
      })
    )

    const propose = (data: Uint8Array): Effect.Effect<Proposal, ProposeError> =>
      Effect.suspend(() => {
        if (stopped) return Effect.fail(new NodeStopped({ reason: "node stopped" }))
        if (pendingProposals >= options.maxPendingProposals) {
          return Effect.fail(new Busy({ pending: pendingProposals }))
        }
        pendingProposals++
        const deferred = Deferred.makeUnsafe<Proposal, ProposeError>()
        Queue.offerUnsafe(inputs, { _tag: "Propose", data, deferred })
        return Deferred.await(deferred)
      })

    const readBarrier: Effect.Effect<number, ReadError> = Effect.suspend(() => {
      if (stopped) return Effect.fail(new NodeStopped({ reason: "node stopped" }))
      const deferred = Deferred.makeUnsafe<number, ReadError>()
      Queue.offerUnsafe(inputs, { _tag: "Read", deferred })
      return Deferred.await(deferred)
    })

    const counters = Effect.sync((): NodeCounters => ({ commitIndex: state.commitIndex, pendingProposals }))

    const status = Effect.sync((): NodeStatus => {
      const s = state
      return {
        id: self,
        role: s.role,
        term: s.term,
        leader: s.leader === 0 ? null : s.leader,
        commitIndex: s.commitIndex,
        appliedIndex: s.appliedIndex,
        firstIndex: Log.firstIndex(s.log),
        lastIndex: Log.lastIndex(s.log),
        snapshotIndex: s.snapshot?.index ?? 0,
        snapshotBytes: s.snapshot?.size ?? 0,
        logBytes: logBytesSinceSnapshot,
        pendingProposals,
        peers: [...s.progress].map(([id, p]) => ({ id, match: p.match, next: p.next, mode: p.mode }))
      }
    })

    return {
      id: self,
      propose,
      readBarrier,
      status,
      counters,
      transferLeadership: (to: NodeId) =>
        Effect.sync(() => Queue.offerUnsafe(inputs, { _tag: "Transfer", to })),
      stopped: Deferred.await(stoppedWith)
    } satisfies RaftNodeShape
  })

/** The node as a layer over its storage, transport, state machine and metrics. */
export const layer = (options: NodeOptions) => Layer.effect(RaftNode, make(options))
