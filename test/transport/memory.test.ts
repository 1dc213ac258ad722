/**
 * The memory network's own features: fault hooks, inbox bound, serialized mode.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Queue } from "effect"
import { describe } from "vitest"
import type { Message, NodeId } from "../../src/core/types.ts"
import { makeMemory, makeMemoryNetwork } from "../../src/transport/memory.ts"
import type { TransportShape } from "../../src/transport/transport.ts"

const ping = (term: number): Message => ({ _tag: "TimeoutNow", term })

const startAll = (network: ReturnType<typeof makeMemoryNetwork>, ids: ReadonlyArray<NodeId>) =>
  Effect.gen(function* () {
    const nodes = new Map<NodeId, TransportShape>()
    for (const id of ids) nodes.set(id, yield* makeMemory({ network, self: id }))
    return nodes
  })

/** Sends one ping along every directed pair and returns the pairs that delivered. */
const reachablePairs = (nodes: Map<NodeId, TransportShape>) =>
  Effect.gen(function* () {
    const delivered: Array<string> = []
    for (const [from, sender] of nodes) {
      for (const [to, receiver] of nodes) {
        if (from === to) continue
        yield* sender.send({ from, to, message: ping(from * 10 + to) })
        const got = yield* Queue.poll(receiver.incoming)
        if (got._tag === "Some") {
          assert.deepStrictEqual(got.value, { from, to, message: ping(from * 10 + to) })
          delivered.push(`${from}>${to}`)
        }
      }
    }
    return delivered
  })

const all = ["1>2", "1>3", "2>1", "2>3", "3>1", "3>2"]

describe("memory network", () => {
  it.effect("partition drops traffic between two nodes both ways, heal restores it", () =>
    Effect.gen(function* () {
      const network = makeMemoryNetwork()
      const nodes = yield* startAll(network, [1, 2, 3])
      assert.deepStrictEqual(yield* reachablePairs(nodes), all)
      yield* network.partition(1, 2)
      assert.isFalse(network.canDeliver(1, 2))
      assert.deepStrictEqual(yield* reachablePairs(nodes), ["1>3", "2>3", "3>1", "3>2"])
      assert.strictEqual((yield* nodes.get(1)!.stats).rejected.unreachable, 1)
      yield* network.heal(2, 1)
      assert.deepStrictEqual(yield* reachablePairs(nodes), all)
    })
  )

  it.effect("isolate cuts a node off from everyone until healAll", () =>
    Effect.gen(function* () {
      const network = makeMemoryNetwork()
      const nodes = yield* startAll(network, [1, 2, 3])
      yield* network.isolate(3)
      assert.deepStrictEqual(yield* reachablePairs(nodes), ["1>2", "2>1"])
      yield* network.heal(1, 3) // heal undoes partitions only
      assert.deepStrictEqual(yield* reachablePairs(nodes), ["1>2", "2>1"])
      yield* network.healAll
      assert.deepStrictEqual(yield* reachablePairs(nodes), all)
    })
  )

  it.effect("a full inbox drops further deliveries and counts them", () =>
    Effect.gen(function* () {
      const network = makeMemoryNetwork()
      const one = yield* makeMemory({ network, self: 1 })
      const two = yield* makeMemory({ network, self: 2, maxIncomingFrames: 4 })
      for (let i = 0; i < 10; i++) yield* one.send({ from: 1, to: 2, message: ping(i) })
      const got = yield* Queue.takeAll(two.incoming)
      assert.deepStrictEqual(
        got.map((e) => (e.message as { term: number }).term),
        [0, 1, 2, 3]
      )
      const stats = yield* one.stats
      assert.strictEqual(stats.rejected["queue-full"], 6)
      assert.strictEqual(stats.sent, 4)
      assert.strictEqual((yield* two.stats).received, 4)
    })
  )

  it.effect("joining twice under one id is a bug and dies", () =>
    Effect.gen(function* () {
      const network = makeMemoryNetwork()
      yield* makeMemory({ network, self: 1 })
      const exit = yield* Effect.exit(makeMemory({ network, self: 1 }))
      assert.isTrue(Exit.hasDies(exit))
    })
  )

  it.effect("serialized mode drops what the wire would refuse and counts why", () =>
    Effect.gen(function* () {
      const network = makeMemoryNetwork({ serialize: true, maxFrameBytes: 1024 })
      const one = yield* makeMemory({ network, self: 1 })
      const two = yield* makeMemory({ network, self: 2 })
      yield* one.send({ from: 1, to: 2, message: ping(-1) }) // a core bug: negative term
      yield* one.send({
        from: 1,
        to: 2,
        message: {
          _tag: "InstallSnapshot",
          term: 1,
          snapshot: { index: 1, term: 1, size: 4096 },
          offset: 0,
          data: new Uint8Array(4096),
          done: true
        }
      })
      yield* one.send({ from: 1, to: 2, message: ping(3) })
      const got = yield* Queue.takeAll(two.incoming)
      assert.deepStrictEqual(got, [{ from: 1, to: 2, message: ping(3) }])
      const stats = yield* one.stats
      assert.strictEqual(stats.rejected.malformed, 1)
      assert.strictEqual(stats.rejected.oversized, 1)
    })
  )
})
