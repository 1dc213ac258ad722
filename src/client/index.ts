/**
 * The raftkv client SDK: an Effect service (`KvClient`, `layer`, `make`) and a Promise facade
 * (`connect`). See KvClient.ts for the behaviour and promise.ts for an example.
 */
export type { BytesInput } from "./bytes.ts"
export { toBytes, toText } from "./bytes.ts"
export * from "./errors.ts"
export {
  type CallOptions,
  type Consistency,
  type Entry,
  KvClient,
  type KvClientShape,
  layer,
  make,
  type NodeReport,
  type NodeStatus,
  type ReadOptions,
  type ReadResult,
  type WriteOptions
} from "./KvClient.ts"
export type { KvClientOptions, Operation, RetryEvent } from "./options.ts"
export { connect, type KvConnection } from "./promise.ts"
