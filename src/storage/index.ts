/**
 * Durable storage of a node: the `LogStore` service and its LevelDB and memory layers.
 */
export type { Identity } from "./codec.ts"
export * from "./errors.ts"
export * from "./disk.ts"
export * from "./LogStore.ts"
export * from "./memory.ts"
