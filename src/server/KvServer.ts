/**
 * The client port: the `KvRpcs` protocol over TCP (effect/rpc with the SchemaBinary
 * serialization: length-framed, validated at the boundary, many requests in flight per connection).
 */
import { Layer } from "effect"
import { KvRpcs } from "../kv/protocol.ts"
import { RpcSerialization, RpcServer } from "effect/rpc"
import { SocketServer } from "effect/socket"
import { listen } from "../transport/tcp.ts"
import type { HostPort } from "../cli/addresses.ts"
import { type KvHandlersOptions, layerKvHandlers } from "./KvHandlers.ts"

/** Largest client frame accepted (a 1 MiB value and a 4 KiB key fit with room to spare). */
export const MAX_CLIENT_FRAME_BYTES = 4 * 1024 * 1024

export const layerKvServer = (address: HostPort, options: KvHandlersOptions) =>
  RpcServer.layer(KvRpcs, { disableTracing: true, concurrency: "unbounded" }).pipe(
    Layer.provide(layerKvHandlers(options)),
    Layer.provide(RpcServer.layerProtocolSocketServer),
    Layer.provide(RpcSerialization.layerSchemaBinary({ maxFrameSize: MAX_CLIENT_FRAME_BYTES })),
    Layer.provide(Layer.effect(SocketServer.SocketServer, listen(address)))
  )
