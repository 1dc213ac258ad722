/**
 * The contract every Transport layer must meet, run against each layer by contract.test.ts.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Queue, Scope } from "effect"
import { describe } from "vitest"
import type { AppendEntries, Envelope, NodeId } from "../../src/core/types.ts"
import type { TransportShape } from "../../src/transport/transport.ts"
import { collect, eventually, numbered } from "./helpers.ts"

/** A fresh cluster of transports for one test. */
export interface Harness {
  /** Starts node `id`'s transport in `scope` (closing the scope stops the node). */
  readonly start: (id: NodeId, scope: Scope.Scope) => Effect.Effect<TransportShape, unknown>
  /** The per-peer outbound bound this harness configured (0: the layer keeps no queue). */
  readonly maxQueuedFrames: number
}

export type MakeHarness = (ids: ReadonlyArray<NodeId>) => Effect.Effect<Harness>

const startIn = (harness: Harness, id: NodeId) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const transport = yield* harness.start(id, scope)
    return { transport, stop: Scope.close(scope, Exit.void) }
  })

const rounds = (envelopes: ReadonlyArray<Envelope>) =>
  envelopes.map((e) => (e.message as AppendEntries).round)

export const transportContract = (name: string, makeHarness: MakeHarness) =>
  describe(`Transport contract: ${name}`, () => {
    it.live("messages between 3 nodes arrive intact and in order per sender", () =>
      Effect.gen(function* () {
        const ids = [1, 2, 3]
        const harness = yield* makeHarness(ids)
        const nodes = new Map<NodeId, TransportShape>()
        for (const id of ids) nodes.set(id, (yield* startIn(harness, id)).transport)
        const perPair = 300
        // Bursts stay within the outbound bound (nothing may be dropped), and the next burst goes
        // once the queues drained, so the stream spans many writer batches.
        const burst = harness.maxQueuedFrames === 0 ? perPair : Math.max(1, harness.maxQueuedFrames / 2)
        const drained = Effect.map(
          Effect.forEach([...nodes.values()], (n) => n.stats),
          (all) => all.every((s) => s.queued === 0)
        )
        // Interleave the senders so every node sends and receives at once.
        for (let seq = 0; seq < perPair; seq++) {
          for (const from of ids) {
            for (const to of ids) {
              if (to !== from)
                yield* nodes.get(from)!.send({ from, to, message: numbered(from * 10 + to, seq) })
            }
          }
          if ((seq + 1) % burst === 0) yield* eventually(drained, "outbound queues to drain")
        }
        for (const to of ids) {
          const got = yield* collect(nodes.get(to)!.incoming, perPair * (ids.length - 1))
          for (const from of ids) {
            if (from === to) continue
            const fromSender = got.filter((e) => e.from === from)
            assert.deepStrictEqual(
              rounds(fromSender),
              Array.from({ length: perPair }, (_, i) => i)
            )
            fromSender.forEach((e, seq) => {
              assert.strictEqual(e.to, to)
              assert.deepStrictEqual(
                (e.message as AppendEntries).entries.map((x) => Array.from(x.data)),
                numbered(from * 10 + to, seq).entries.map((x) => Array.from(x.data))
              )
            })
          }
          assert.strictEqual((yield* nodes.get(to)!.stats).received, perPair * (ids.length - 1))
        }
      })
    )

    it.live("sending to an unreachable peer neither blocks nor grows beyond the bound", () =>
      Effect.gen(function* () {
        const harness = yield* makeHarness([1, 2, 3])
        const { transport } = yield* startIn(harness, 1) // 2 and 3 never start
        const n = 20_000
        const message = numbered(1, 1)
        const started = Date.now()
        for (let i = 0; i < n; i++) {
          yield* transport.send({ from: 1, to: 2, message })
          yield* transport.send({ from: 1, to: 99, message }) // not a member at all
        }
        const elapsed = Date.now() - started
        const stats = yield* transport.stats
        assert.isAtMost(stats.queued, harness.maxQueuedFrames)
        assert.strictEqual(stats.rejected["queue-full"] + stats.rejected.unreachable + stats.queued, 2 * n)
        assert.isAtLeast(stats.rejected.unreachable, n) // everything to node 99
        assert.strictEqual(stats.sent, 0)
        // 40k sends are pure enqueue/drop work (~1-3 us each here): a generous bound for slow CI.
        assert.isBelow(elapsed, 5_000)
      })
    )

    it.live("a peer that stops and comes back is reached again, both ways", () =>
      Effect.gen(function* () {
        const harness = yield* makeHarness([1, 2])
        const one = (yield* startIn(harness, 1)).transport
        let two = yield* startIn(harness, 2)
        yield* one.send({ from: 1, to: 2, message: numbered(0, 0) })
        yield* two.transport.send({ from: 2, to: 1, message: numbered(0, 0) })
        assert.deepStrictEqual(rounds(yield* collect(two.transport.incoming, 1)), [0])
        assert.deepStrictEqual(rounds(yield* collect(one.incoming, 1)), [0])

        yield* two.stop
        for (let i = 1; i <= 5; i++) yield* one.send({ from: 1, to: 2, message: numbered(0, i) })
        two = yield* startIn(harness, 2)

        // Frames sent while the peer was down may be lost; keep probing until one gets through.
        let seq = 100
        yield* eventually(
          Effect.gen(function* () {
            yield* one.send({ from: 1, to: 2, message: numbered(0, seq++) })
            return (yield* Queue.size(two.transport.incoming)) > 0
          }),
          "node 2 to hear from node 1 after its restart"
        )
        yield* two.transport.send({ from: 2, to: 1, message: numbered(0, 7) })
        const back = yield* collect(one.incoming, 1)
        assert.deepStrictEqual(rounds(back), [7])
        assert.strictEqual(back[0]!.from, 2)
      })
    )

    it.live("stopping a node shuts its incoming queue down", () =>
      Effect.gen(function* () {
        const harness = yield* makeHarness([1, 2])
        const node = yield* startIn(harness, 1)
        yield* node.stop
        const exit = yield* Effect.exit(Queue.take(node.transport.incoming))
        assert.isTrue(Exit.isFailure(exit))
      })
    )
  })
