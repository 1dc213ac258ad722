/**
 * The failures of durable storage, one tagged error class per kind, each with a message that says
 * what went wrong and where (the runtime prints `error.message` as its one-line fatal error).
 */
import { Schema } from "effect"

/** The data dir belongs to another cluster or node: nothing was touched. */
export class DataDirMismatch extends Schema.TaggedError<DataDirMismatch>()("DataDirMismatch", {
  dataDir: Schema.String,
  expectedClusterId: Schema.String,
  expectedNodeId: Schema.Number,
  foundClusterId: Schema.String,
  foundNodeId: Schema.Number
}) {
  override get message(): string {
    return (
      `data dir ${this.dataDir} belongs to cluster "${this.foundClusterId}" node ${this.foundNodeId}, ` +
      `but this node is cluster "${this.expectedClusterId}" node ${this.expectedNodeId}; refusing to use it`
    )
  }
}

/** Stored data fails validation. `location` names the file or key; nothing is reset. */
export class CorruptDataDir extends Schema.TaggedError<CorruptDataDir>()("CorruptDataDir", {
  dataDir: Schema.String,
  location: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `corrupt data dir ${this.dataDir}: ${this.location}: ${this.reason}`
  }
}

/** An I/O operation failed. `code` is the errno code (ENOSPC, EIO, ...) or a LevelDB code. */
export class StorageIOError extends Schema.TaggedError<StorageIOError>()("StorageIOError", {
  operation: Schema.String,
  path: Schema.String,
  code: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    const what = explainCode(this.code)
    return `storage ${this.operation} failed on ${this.path}: ${what === undefined ? "" : `${what}: `}${this.detail}`
  }
}

/** The data dir cannot be created or written (a path under a file, no permission, read-only fs). */
export class DataDirUnwritable extends Schema.TaggedError<DataDirUnwritable>()("DataDirUnwritable", {
  dataDir: Schema.String,
  code: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    const what = explainCode(this.code)
    return `data dir ${this.dataDir} is not usable: ${what === undefined ? "" : `${what}: `}${this.detail}`
  }
}

/** The requested snapshot is no longer (or not yet) the node's snapshot: a newer one replaced it. */
export class SnapshotNotFound extends Schema.TaggedError<SnapshotNotFound>()("SnapshotNotFound", {
  index: Schema.Number,
  term: Schema.Number
}) {
  override get message(): string {
    return `snapshot at index ${this.index} term ${this.term} is not the stored snapshot (replaced or never saved)`
  }
}

/** Any failure opening a data dir. */
export type OpenError = DataDirMismatch | CorruptDataDir | StorageIOError | DataDirUnwritable

const explanations: Record<string, string> = {
  ENOSPC: "disk full",
  EDQUOT: "disk quota exceeded",
  EIO: "I/O error from the device",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a path component is not a directory",
  EEXIST: "already exists",
  EMFILE: "too many open files",
  LEVEL_LOCKED: "the data dir is in use by another process",
  DIR_LOCKED: "the data dir is in use by another process"
}

/** A human phrase for an errno / LevelDB code, if known. */
export const explainCode = (code: string): string | undefined => explanations[code]

const errnoInMessage = /\b(E[A-Z]{2,})\b/
const phraseToCode: ReadonlyArray<readonly [RegExp, string]> = [
  [/no space left on device/i, "ENOSPC"],
  [/disk quota exceeded/i, "EDQUOT"],
  [/read-only file system/i, "EROFS"],
  [/permission denied/i, "EACCES"],
  [/input\/output error/i, "EIO"],
  [/too many open files/i, "EMFILE"]
]

/**
 * The most precise code for an error thrown by node:fs or classic-level. LevelDB reports I/O
 * failures as `LEVEL_IO_ERROR` with the strerror text in the message ("No space left on device"),
 * so the text is mapped back to the errno code.
 */
export const errorCode = (error: unknown): string => {
  const e = error as { code?: unknown; message?: unknown; cause?: unknown } | null
  if (e === null || typeof e !== "object") return "UNKNOWN"
  const message = typeof e.message === "string" ? e.message : ""
  for (const [pattern, code] of phraseToCode) if (pattern.test(message)) return code
  if (typeof e.code === "string") {
    // classic-level wraps the real failure (LEVEL_LOCKED, ENOTDIR) in LEVEL_DATABASE_NOT_OPEN.
    if (e.code === "LEVEL_DATABASE_NOT_OPEN" && e.cause !== undefined) return errorCode(e.cause)
    return e.code
  }
  const match = errnoInMessage.exec(message)
  return match?.[1] ?? "UNKNOWN"
}

/** The innermost useful text of an error (classic-level puts the real reason in `cause`). */
export const errorDetail = (error: unknown): string => {
  const e = error as { message?: unknown; cause?: unknown } | null
  if (e === null || typeof e !== "object") return String(error)
  const message = typeof e.message === "string" ? e.message : String(error)
  if (e.cause !== undefined && e.cause !== null) return `${message} (${errorDetail(e.cause)})`
  return message
}
