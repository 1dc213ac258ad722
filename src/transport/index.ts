/**
 * Peer transport: the `Transport` service, its TCP and memory layers, and the wire codec.
 */
export * from "./codec.ts"
export * from "./errors.ts"
export {
  type MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryTransportOptions,
  layerMemory,
  makeMemory,
  makeMemoryNetwork
} from "./memory.ts"
export * as WireSchema from "./schema.ts"
export {
  layerTcp,
  makeTcp,
  type PeerAddress,
  type TcpTransport,
  type TcpTransportError,
  type TcpTransportOptions
} from "./tcp.ts"
export * from "./transport.ts"
