/** How a data dir's `log/` stores the log (a dependency-free module, for the CLI's flag parsing). */
export type LogEngine = "segments" | "leveldb"

/** Every engine; `segments` (append-only files, `segmentKv.ts`) is the default. */
export const LOG_ENGINES: ReadonlyArray<LogEngine> = ["segments", "leveldb"]
