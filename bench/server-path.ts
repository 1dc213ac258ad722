/**
 * CPU per client request on the server side, and per event in the metrics sink, in-process.
 *
 * Run: `node bench/server-path.ts [--rounds 7] [--n 20000]` (Node 24 from node_modules).
 *
 * Cases (each the median of several rounds, CPU microseconds per call from `process.cpuUsage`):
 * - `put`, `get`: the `KvHandlers` of `layerKvHandlers` (with the Prometheus metrics layer)
 *   over a fake RaftNode that applies each proposal to the real KV state machine at once, called
 *   one after another in one fiber (what the client port runs per request, minus decoding and I/O).
 * - `put-fiber`: the same Put, each run in a fresh fiber (`Effect.runFork`), as the client port does.
 * - `sink-turn`: the metrics sink calls of one leader turn that commits one proposal (proposed,
 *   2 AppendEntries sent, 2 responses received, persisted, committed, applied, turn): per turn.
 * - `render`: one `/metrics` exposition (what a scrape costs), per render.
 * Ends with one JSON line of every figure.
 */
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import type { RaftState } from "../src/core/state.ts"
import type { AppendEntries, AppendEntriesResponse, Persist } from "../src/core/types.ts"
import { MetricsSink } from "../src/metrics/MetricsSink.ts"
import { layerPrometheus, MetricsExposition } from "../src/metrics/prometheus.ts"
import type { ProposeError } from "../src/runtime/errors.ts"
import { type Proposal, RaftNode } from "../src/runtime/RaftNode.ts"
import { KvMachine, layerKvMachine } from "../src/server/KvMachine.ts"
import { KvHandlers, layerKvHandlers } from "../src/server/KvHandlers.ts"
import { layerUnwired } from "../src/transport/unwired.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback
}
const ROUNDS = option("rounds", 7)
const N = option("n", 20_000)
const KEYS = 10_000

/** A RaftNode that applies every proposal to the KV machine at once (a leader with no peers). */
const layerFakeNode = Layer.effect(
  RaftNode,
  Effect.map(KvMachine, (kv) => {
    let index = 0
    let pending = 0
    const propose = (data: Uint8Array): Effect.Effect<Proposal, ProposeError> =>
      Effect.suspend(() => {
        pending++
        const deferred = Deferred.makeUnsafe<Proposal, ProposeError>()
        index++
        const result = kv.apply(index, { term: 1, kind: "command", data })
        pending--
        Deferred.doneUnsafe(deferred, Effect.succeed({ index, result }))
        return Deferred.await(deferred)
      })
    return RaftNode.of({
      id: 1,
      propose,
      readBarrier: Effect.sync(() => index),
      status: Effect.die("not used"),
      counters: Effect.sync(() => ({ commitIndex: index, pendingProposals: pending })),
      transferLeadership: () => Effect.void,
      stopped: Effect.never
    })
  })
)

const layerFakeTransport = layerUnwired()

const metricsLayer = layerPrometheus.pipe(Layer.provide(layerFakeTransport))
const handlersLayer = layerKvHandlers({ clientAddresses: new Map() }).pipe(
  Layer.provideMerge(layerFakeNode),
  Layer.provideMerge(layerKvMachine()),
  Layer.provideMerge(metricsLayer)
)

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

interface Case {
  readonly name: string
  /** Makes `n` calls. */
  readonly run: (n: number) => void
  readonly n: number
}

/**
 * CPU microseconds per call of each case: every case is warmed up with a full run, then the
 * rounds interleave the cases (so a noisy moment of a shared machine hits them all alike) and each
 * case's figure is the median of its rounds.
 */
const measure = (cases: ReadonlyArray<Case>): Record<string, number> => {
  for (const c of cases) c.run(c.n)
  const rounds = new Map<string, Array<number>>(cases.map((c) => [c.name, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      const start = process.cpuUsage()
      c.run(c.n)
      const used = process.cpuUsage(start)
      rounds.get(c.name)!.push((used.user + used.system) / c.n)
    }
  }
  return Object.fromEntries(cases.map((c) => [c.name, Number(median(rounds.get(c.name)!).toFixed(3))]))
}

const te = new TextEncoder()
const keys = Array.from({ length: KEYS }, (_, i) => te.encode(`key-${String(i).padStart(8, "0")}`))
const value = new Uint8Array(128).fill(7)

const main = Effect.gen(function* () {
  const ctx = yield* Layer.build(handlersLayer)
  const api = Context.get(ctx, KvHandlers)
  const { session } = yield* api.OpenSession()
  let seq = 0
  const putRequest = () => {
    seq++
    return { session, seq, ack: seq - 1, key: keys[seq % KEYS]!, value }
  }
  let g = 0
  const getRequest = () => ({ key: keys[g++ % KEYS]!, consistency: "stale" as const })

  const loop = (n: number, call: () => Effect.Effect<unknown, unknown>) =>
    Effect.runSync(
      Effect.gen(function* () {
        for (let i = 0; i < n; i++) yield* call()
      })
    )
  // --- the metrics sink alone: one leader turn committing one proposal
  const sink = Context.get(ctx as Context.Context<MetricsSink>, MetricsSink)
  const render = Context.get(ctx as Context.Context<MetricsExposition>, MetricsExposition).render
  sink.roleChanged("leader", 2, 1)
  let last = 0
  const entry = { term: 2, kind: "command" as const, data: value }
  const state = (): RaftState =>
    ({
      term: 2,
      role: "leader",
      leader: 1,
      commitIndex: last,
      appliedIndex: last,
      log: { prevIndex: 0, length: last },
      snapshot: undefined,
      progress: new Map([
        [2, { match: last }],
        [3, { match: last }]
      ])
    }) as unknown as RaftState
  const turn = () => {
    const index = last + 1
    sink.proposed(index, 1)
    const ae: AppendEntries = {
      _tag: "AppendEntries",
      term: 2,
      prevLogIndex: last,
      prevLogTerm: 2,
      entries: [entry],
      leaderCommit: last,
      round: 0
    }
    sink.sent(2, ae)
    sink.sent(3, ae)
    const persist: Persist = {
      _tag: "Persist",
      writeId: index,
      hardState: undefined,
      log: { from: index, entries: [entry] }
    }
    sink.persisted([persist], 0.0005)
    const ok: AppendEntriesResponse = {
      _tag: "AppendEntriesResponse",
      term: 2,
      success: true,
      index,
      conflictTerm: 0,
      conflictIndex: 0,
      round: 0
    }
    sink.received(2, ok)
    sink.received(3, ok)
    sink.committed(index)
    last = index
    sink.applied(index, 1)
    sink.turn(3, 0, state(), index * 160)
  }
  const figures = measure([
    { name: "put", n: N, run: (n) => loop(n, () => api.Put(putRequest())) },
    { name: "get", n: N, run: (n) => loop(n, () => api.Get(getRequest())) },
    {
      name: "putFiber",
      n: N,
      run: (n) => {
        for (let i = 0; i < n; i++) {
          const exit = Effect.runFork(api.Put(putRequest())).pollUnsafe()
          if (exit === undefined || !Exit.isSuccess(exit)) throw new Error("put did not complete at once")
        }
      }
    },
    {
      name: "sinkTurn",
      n: N,
      run: (n) => {
        for (let i = 0; i < n; i++) turn()
      }
    },
    { name: "render", n: 200, run: (n) => loop(n, () => render) }
  ])
  for (const [name, us] of Object.entries(figures))
    console.log(`${name.padEnd(10)} ${us.toFixed(3)} us CPU per call`)
  console.log(JSON.stringify({ rounds: ROUNDS, n: N, cpuMicrosPerCall: figures }))
})

Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exit(1)
})
