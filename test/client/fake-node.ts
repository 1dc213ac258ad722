/**
 * In-process fake nodes for client tests: the real client-port server (src/server/KvServer.ts)
 * over real TCP, with handlers a test scripts per node. By default
 * a node acts as a healthy leader over a shared in-memory store; a test overrides single RPCs
 * (NotLeader with a hint, Busy, SessionExpired, hanging...) and reads back every call received.
 */
import { Effect, Exit, Scope } from "effect"
import {
  type CloseSessionRequest,
  type DeleteRequest,
  type GetRequest,
  type KvApi,
  NotLeader,
  type PutRequest,
  VersionMismatch
} from "../../src/kv/protocol.ts"
import { serveClients } from "../../src/server/KvServer.ts"

type Tag = "Get" | "Put" | "Delete" | "OpenSession" | "CloseSession" | "Status"

interface Payloads {
  readonly Get: typeof GetRequest.Type
  readonly Put: typeof PutRequest.Type
  readonly Delete: typeof DeleteRequest.Type
  readonly OpenSession: undefined
  readonly CloseSession: typeof CloseSessionRequest.Type
  readonly Status: undefined
}

/** A scripted handler: any answer or error (the RPC schemas still check what is sent). */
export type Handler<T extends Tag> = (payload: Payloads[T]) => Effect.Effect<unknown, unknown>
export type Handlers = { -readonly [T in Tag]: Handler<T> }

export interface Call {
  readonly rpc: Tag
  // biome-ignore lint/suspicious/noExplicitAny: payloads differ per rpc; tests read the fields they sent
  readonly payload: any
  /** The server's id of the connection the call came on. */
  readonly connection: number
}

/** A store shared by the fake nodes of one test (they "replicate" instantly). */
export class FakeStore {
  readonly data = new Map<string, { value: Uint8Array; version: number }>()
  nextSession = 1
  /** "session/seq" -> result: a retry of an applied write gets the original result. */
  readonly applied = new Map<string, { version: number }>()
}

export interface FakeNode {
  readonly id: number
  endpoint: string
  readonly calls: Call[]
  /** Overrides of the default (leader) behaviour; tests replace entries at will. */
  overrides: Partial<Handlers>
  /** How many calls are being handled right now, and the most seen at once. */
  readonly inFlight: { now: number; max: number }
  /** Stops listening and drops its connections. */
  readonly stop: Effect.Effect<void>
}

const keyOf = (b: Uint8Array) => Buffer.from(b).toString("hex")

export const leaderHandlers = (id: number, store: FakeStore): Handlers => ({
  Get: (req) =>
    Effect.succeed({
      entry: store.data.get(keyOf(req.key)) ?? null,
      appliedIndex: 10,
      commitIndex: 10
    }),
  Put: (req) =>
    Effect.suspend(() => {
      const dedup = `${req.session}/${req.seq}`
      const done = store.applied.get(dedup)
      if (done !== undefined) return Effect.succeed(done)
      const current = store.data.get(keyOf(req.key))?.version ?? 0
      if (req.expectedVersion !== undefined && req.expectedVersion !== current) {
        return Effect.fail(new VersionMismatch({ currentVersion: current }))
      }
      const result = { version: current + 1 }
      store.data.set(keyOf(req.key), { value: req.value, version: current + 1 })
      store.applied.set(dedup, result)
      return Effect.succeed(result)
    }),
  Delete: (req) =>
    Effect.sync(() => {
      const deleted = store.data.delete(keyOf(req.key))
      return { deleted }
    }),
  OpenSession: () => Effect.sync(() => ({ session: store.nextSession++ })),
  CloseSession: () => Effect.succeed({ closed: true }),
  Status: () =>
    Effect.succeed({ id, role: "leader" as const, term: 1, leader: id, commitIndex: 10, appliedIndex: 10 })
})

/** Starts a fake node on a free port of 127.0.0.1, until `stop` or the end of the scope. */
export const startFakeNode = (id: number, store: FakeStore): Effect.Effect<FakeNode, never, Scope.Scope> =>
  Effect.gen(function* () {
    const outer = yield* Effect.scope
    const scope = yield* Scope.fork(outer)
    const defaults = leaderHandlers(id, store)
    const node: FakeNode = {
      id,
      endpoint: "",
      calls: [],
      overrides: {},
      inFlight: { now: 0, max: 0 },
      stop: Scope.close(scope, Exit.void)
    }
    // Records the call, then runs the node's override or default handler for it.
    const dispatch =
      <T extends Tag>(rpc: T, connection: number) =>
      // biome-ignore lint/suspicious/noExplicitAny: one forwarder serves every call's own signature
      (payload?: any): Effect.Effect<any, any> => {
        node.calls.push({ rpc, payload, connection })
        const handler: Handler<T> = node.overrides[rpc] ?? defaults[rpc]
        return Effect.suspend(() => {
          node.inFlight.now++
          node.inFlight.max = Math.max(node.inFlight.max, node.inFlight.now)
          return handler(payload)
        }).pipe(Effect.ensuring(Effect.sync(() => node.inFlight.now--)))
      }
    // The wire encoder checks every answer against its call's type.
    const api = (connection: number): KvApi => ({
      Get: dispatch("Get", connection),
      Put: dispatch("Put", connection),
      Delete: dispatch("Delete", connection),
      OpenSession: dispatch("OpenSession", connection),
      CloseSession: dispatch("CloseSession", connection),
      // Scripted handlers may fail even where a node never does (a test of the client's reaction).
      Status: dispatch("Status", connection) as KvApi["Status"]
    })
    const bound = yield* serveClients({ host: "127.0.0.1", port: 0 }, api).pipe(
      Scope.provide(scope),
      Effect.orDie
    )
    node.endpoint = `127.0.0.1:${bound.port}`
    return node
  })

/** Makes `node` a follower that names `leader` (or nobody) for writes and linearizable reads,
 * and answers stale reads from the shared store (appliedIndex 5, commitIndex 9). */
export const follower = (node: FakeNode, store: FakeStore, leader: FakeNode | undefined): void => {
  const hint = leader === undefined ? {} : { leaderHint: leader.endpoint }
  const notLeader = () => Effect.fail(new NotLeader(hint))
  node.overrides = {
    ...node.overrides,
    Put: notLeader,
    Delete: notLeader,
    OpenSession: notLeader,
    CloseSession: notLeader,
    Get: (req) =>
      req.consistency === "stale"
        ? Effect.succeed({ entry: store.data.get(keyOf(req.key)) ?? null, appliedIndex: 5, commitIndex: 9 })
        : notLeader()
  }
}
