/**
 * The KV state machine as services: `KvMachine` is the node's one `KvStateMachine` (the client
 * server reads it), and `layerStateMachine` plugs it into the Raft runtime as its `StateMachine`.
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { KvConfig } from "../kv/limits.ts"
import { KvStateMachine } from "../kv/state-machine.ts"
import { SnapshotRestoreError } from "../runtime/errors.ts"
import { StateMachine } from "../runtime/StateMachine.ts"

/** The node's KV state machine instance (single-writer: only the event loop applies to it). */
export class KvMachine extends Context.Service<KvMachine, KvStateMachine>()("raftkv/KvMachine") {}

export const layerKvMachine = (config: Partial<KvConfig> = {}): Layer.Layer<KvMachine> =>
  Layer.sync(KvMachine, () => new KvStateMachine(config))

/** The runtime's view of the KV machine: apply, point-in-time snapshot streams, restore. */
export const layerStateMachine: Layer.Layer<StateMachine, never, KvMachine> = Layer.effect(
  StateMachine,
  Effect.map(KvMachine, (kv) =>
    StateMachine.of({
      apply: (index, entry) => kv.apply(index, entry),
      // `kv.snapshot()` runs now: the stream is the state as of this call, however long it takes
      // to consume while the loop keeps applying.
      snapshot: () => Stream.fromIterable(kv.snapshot()),
      restore: (_meta, chunks) =>
        Effect.gen(function* () {
          const restorer = kv.beginRestore()
          let invalid: string | undefined
          yield* Stream.runForEach(chunks, (chunk) =>
            Effect.sync(() => {
              if (invalid === undefined) invalid = restorer.push(chunk)?.reason
            })
          )
          invalid ??= restorer.finish()?.reason
          if (invalid !== undefined) return yield* new SnapshotRestoreError({ message: invalid })
        })
    })
  )
)
