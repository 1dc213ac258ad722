/**
 * The pure Raft core: `step(state, event) -> { state, commands }`.
 *
 * No I/O, no Effect runtime, no clock, no randomness: time and random draws arrive as event data
 * (`now`, `random`), and everything that must happen is returned as commands.
 */
export * from "./config.ts"
export * from "./raft.ts"
export type * from "./state.ts"
export * from "./types.ts"
export * as Log from "./log.ts"
export type { RaftLog } from "./log.ts"
