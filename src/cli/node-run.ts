/**
 * What `raftkv node` runs: every layer of a node, from its validated settings. Loaded only when a
 * node starts, so the other commands do not pay for importing the whole server at start-up.
 */
import { Effect, Layer, Schema } from "effect"
import { layerHttp } from "../http/server.ts"
import { layerPrometheus } from "../metrics/prometheus.ts"
import { layer as nodeLayer, RaftNode } from "../runtime/RaftNode.ts"
import { layerKvMachine, layerStateMachine } from "../server/KvMachine.ts"
import { layerKvServer } from "../server/KvServer.ts"
import { layerDisk } from "../storage/disk.ts"
import { layerTcp } from "../transport/tcp.ts"
import type { NodeSettings } from "./node-command.ts"

/** Every layer of a running node, from its settings. */
export const nodeLayers = (s: NodeSettings) => {
  const kv = layerKvMachine()
  const transport = layerTcp({ clusterId: s.clusterId, self: s.id, peers: s.peers })
  const observability = layerPrometheus.pipe(Layer.provide(transport))
  const deps = Layer.mergeAll(
    // Segment size (or LevelDB's memtable, and so its write-ahead log) follows the snapshot
    // threshold, so the log's disk footprint stays a small multiple of it.
    layerDisk({
      dataDir: s.dataDir,
      clusterId: s.clusterId,
      nodeId: s.id,
      engine: s.logStore,
      writeBufferBytes: Math.max(64 * 1024, Math.min(4 * 1024 * 1024, s.snapshotThresholdBytes))
    }),
    transport,
    layerStateMachine.pipe(Layer.provide(kv)),
    observability
  )
  const node = nodeLayer({
    raft: s.raft,
    snapshotThresholdBytes: s.snapshotThresholdBytes,
    maxPendingProposals: s.maxPendingProposals,
    tickMs: Math.max(1, Math.min(10, Math.floor(s.raft.heartbeatInterval / 4)))
  }).pipe(Layer.provide(deps))
  const server = layerKvServer(s.client, { clientAddresses: s.clientAddresses }).pipe(
    Layer.provide(Layer.mergeAll(node, kv, observability))
  )
  const http =
    s.http === undefined
      ? Layer.empty
      : layerHttp(s.http).pipe(Layer.provide(Layer.merge(node, observability)))
  return Layer.mergeAll(node, kv, server, http)
}

export const runNode = (s: NodeSettings) =>
  Effect.gen(function* () {
    const node = yield* RaftNode
    yield* Effect.logInfo(`node ${s.id} of cluster ${s.clusterId} running (data dir ${s.dataDir})`)
    const reason = yield* node.stopped
    return yield* Effect.fail(new NodeFailed({ reason }))
  }).pipe(Effect.provide(nodeLayers(s)))

/** The node's event loop stopped on its own (a storage failure): exit non-zero. */
export class NodeFailed extends Schema.TaggedError<NodeFailed>()("NodeFailed", { reason: Schema.String }) {}
