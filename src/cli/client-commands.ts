/**
 * The client side of the `raftkv` executable: `put`, `get`, `delete` and `status`, on the SDK
 * (src/client). Every command takes `--endpoints` (client addresses; default: the local cluster
 * of `raftkv cluster`), `--json` and `--timeout`.
 *
 * Output: human-readable lines by default; with `--json` one JSON value on stdout - put
 * `{"version":N}`, get `{"value":"...","version":N}` or `null`, delete `{"deleted":bool}`, status
 * an array with one object per endpoint.
 *
 * Exit status: 0 on success; 3 when a conditional write meets another version (VersionMismatch,
 * the current version is printed); 4 when a write's outcome is unknown (Timeout, OutcomeUnknown:
 * it may or may not have happened) or a read timed out; 1 for any other failure (one line on
 * stderr; with --json also `{"error":TAG,...}` on stdout). `status` exits 1 only when no endpoint
 * answered (its table or JSON is printed all the same).
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import {
  type DeleteError,
  type GetError,
  type InvalidClientOptions,
  type KvClientShape,
  make,
  type NodeReport,
  type PutError,
  type ReadResult,
  type RetryEvent,
  toText
} from "../client/index.ts"
import { localClientEndpoints, parseDuration } from "./addresses.ts"

/** Everything a client command can fail with. */
export type ClientCommandError = GetError | PutError | DeleteError | InvalidClientOptions

/** What a command prints and the status it exits with. */
export interface Outcome {
  readonly exitCode: number
  /** The human-readable result (stdout, without --json). */
  readonly text: string
  /** The --json value (stdout). */
  readonly json: unknown
  /** A one-line reason for failing (stderr). */
  readonly error?: string
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)
// ---------------------------------------------------------------------------------------------

export const EXIT_VERSION_MISMATCH = 3
export const EXIT_OUTCOME_UNKNOWN = 4

/**
 * The outcome of a failed command. `lastRetry` explains a Timeout (why the retries failed);
 * `write` says whether the command was a write (whose timeout leaves its outcome unknown).
 */
export const failureOutcome = (
  error: ClientCommandError,
  write: boolean,
  lastRetry?: RetryEvent
): Outcome => {
  switch (error._tag) {
    case "VersionMismatch":
      return {
        exitCode: EXIT_VERSION_MISMATCH,
        text: "",
        error: `version mismatch: the key's current version is ${error.currentVersion}`,
        json: { error: "VersionMismatch", currentVersion: error.currentVersion }
      }
    case "Timeout": {
      const why =
        lastRetry === undefined ? "" : ` (last error from ${lastRetry.endpoint}: ${lastRetry.detail})`
      return {
        exitCode: EXIT_OUTCOME_UNKNOWN,
        text: "",
        error: `no answer within ${error.afterMs} ms${why}${write ? "; the write may or may not have happened" : ""}`,
        json: {
          error: "Timeout",
          afterMs: error.afterMs,
          ...(lastRetry ? { lastError: lastRetry.detail } : {})
        }
      }
    }
    case "OutcomeUnknown":
      return {
        exitCode: EXIT_OUTCOME_UNKNOWN,
        text: "",
        error: error.message,
        json: { error: "OutcomeUnknown", reason: error.reason }
      }
    case "KeyTooLarge":
    case "ValueTooLarge":
      return {
        exitCode: 1,
        text: "",
        error: `${error._tag === "KeyTooLarge" ? "key" : "value"} too large: ${error.size} bytes (limit ${error.limit})`,
        json: { error: error._tag, size: error.size, limit: error.limit }
      }
    case "ClientClosed":
    case "InvalidClientOptions":
      return {
        exitCode: 1,
        text: "",
        error: error.message,
        json: { error: error._tag, message: error.message }
      }
  }
}

/**
 * `{"value":...,"version":N}` or null, the value as UTF-8 text. A stale read also says (in the
 * human output) which node answered and how far it had applied the log.
 */
export const getOutcome = (read: ReadResult, stale: boolean): Outcome => {
  const entry = read.entry === null ? null : { value: toText(read.entry.value), version: read.entry.version }
  const result = entry === null ? "(not found)" : `${entry.value}  (version ${entry.version})`
  const freshness = `stale read from ${read.endpoint}: applied index ${read.appliedIndex}, commit index ${read.commitIndex}`
  return {
    exitCode: 0,
    text: stale ? `${result}\n${freshness}` : result,
    json: entry
  }
}

export const putOutcome = (r: { readonly version: number }): Outcome => ({
  exitCode: 0,
  text: `OK, version ${r.version}`,
  json: { version: r.version }
})

export const deleteOutcome = (r: { readonly deleted: boolean }): Outcome => ({
  exitCode: 0,
  text: r.deleted ? "deleted" : "(not found, nothing deleted)",
  json: { deleted: r.deleted }
})

const statusError = (report: Extract<NodeReport, { error: unknown }>): string =>
  report.error._tag === "Timeout"
    ? `no answer within ${report.error.afterMs} ms`
    : report.error._tag === "NodeUnreachable"
      ? report.error.reason
      : report.error.message

/** One object per endpoint: the node's status, or `{endpoint, error}`. */
export const statusOutcome = (reports: ReadonlyArray<NodeReport>): Outcome => {
  const json = reports.map((r) =>
    "status" in r
      ? {
          endpoint: r.endpoint,
          id: r.status.id,
          role: r.status.role,
          term: r.status.term,
          leader: r.status.leader,
          commitIndex: r.status.commitIndex,
          appliedIndex: r.status.appliedIndex
        }
      : { endpoint: r.endpoint, error: statusError(r) }
  )
  const header = ["ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED"]
  const rows = reports.map((r) =>
    "status" in r
      ? [
          r.endpoint,
          String(r.status.id),
          r.status.role,
          String(r.status.term),
          r.status.leader === null ? "-" : String(r.status.leader),
          String(r.status.commitIndex),
          String(r.status.appliedIndex)
        ]
      : [r.endpoint, `unreachable: ${statusError(r)}`]
  )
  const full = rows.filter((row) => row.length === header.length)
  const widths = header.map((h, k) =>
    Math.max(h.length, ...(k === 0 ? rows : full).map((row) => row[k]!.length))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, k) => (k < cells.length - 1 ? c.padEnd(widths[k]!) : c))
      .join("  ")
      .trimEnd()
  const answered = reports.some((r) => "status" in r)
  return {
    exitCode: answered ? 0 : 1,
    text: [line(header), ...rows.map(line)].join("\n"),
    json,
    ...(answered ? {} : { error: "no node answered" })
  }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const endpointsFlag = Flag.String("endpoints").pipe(
  Flag.withDescription("Client addresses host:port,... (default: the local cluster of `raftkv cluster`)"),
  Flag.withDefault(localClientEndpoints(3))
)

const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON"), Flag.withDefault(false))

const timeoutFlag = (fallback: string) =>
  Flag.String("timeout").pipe(
    Flag.withDescription(`Give up after this long, retries included (e.g. 5s, 500ms; default ${fallback})`),
    Flag.withDefault(fallback)
  )

interface CommonFlags {
  readonly endpoints: string
  readonly json: boolean
  readonly timeout: string
}

const print = (outcome: Outcome, json: boolean) =>
  Effect.sync(() => {
    if (json) process.stdout.write(`${JSON.stringify(outcome.json)}\n`)
    else if (outcome.text !== "") process.stdout.write(`${outcome.text}\n`)
    if (outcome.error !== undefined) process.stderr.write(`raftkv: ${outcome.error}\n`)
    if (outcome.exitCode !== 0) process.exitCode = outcome.exitCode
  })

/**
 * Runs `operation` with a client for `--endpoints` and prints its outcome. The client is closed
 * (session and connections) before the command returns.
 */
const runWithClient = <A>(
  flags: CommonFlags,
  write: boolean,
  operation: (kv: KvClientShape, timeoutMs: number) => Effect.Effect<A, ClientCommandError>,
  render: (a: A) => Outcome
) =>
  Effect.gen(function* () {
    let lastRetry: RetryEvent | undefined
    const timeoutMs = parseDuration("timeout", flags.timeout)
    const outcome = yield* Effect.gen(function* () {
      if (typeof timeoutMs !== "number" || timeoutMs <= 0) {
        return yield* Effect.succeed<Outcome>({
          exitCode: 1,
          text: "",
          error: `--timeout expects a positive duration like 5s or 500ms, got "${flags.timeout}"`,
          json: { error: "InvalidFlag", flag: "timeout" }
        })
      }
      const kv = yield* make({
        endpoints: flags.endpoints.split(","),
        timeoutMs,
        onRetry: (event) => {
          lastRetry = event
        }
      })
      return render(yield* operation(kv, timeoutMs))
    }).pipe(
      Effect.catch((error) => Effect.succeed(failureOutcome(error, write, lastRetry))),
      Effect.scoped
    )
    yield* print(outcome, flags.json)
  })

export const putCommand = Command.make(
  "put",
  {
    key: Argument.String("key").pipe(Argument.withDescription("The key (UTF-8 text)")),
    value: Argument.String("value").pipe(Argument.withDescription("The value (UTF-8 text)")),
    expectedVersion: Flag.Int("expected-version").pipe(
      Flag.withDescription("Write only if the key's version is this (0 = only if absent); else exit 3"),
      Flag.optional
    ),
    endpoints: endpointsFlag,
    json: jsonFlag,
    timeout: timeoutFlag("5s")
  },
  (f) =>
    runWithClient(
      f,
      true,
      (kv) =>
        kv.put(
          f.key,
          f.value,
          Option.isSome(f.expectedVersion) ? { expectedVersion: f.expectedVersion.value } : {}
        ),
      putOutcome
    )
).pipe(Command.withDescription("Write a key; prints its new version"))

export const getCommand = Command.make(
  "get",
  {
    key: Argument.String("key").pipe(Argument.withDescription("The key (UTF-8 text)")),
    stale: Flag.Boolean("stale").pipe(
      Flag.withDescription(
        "Read any node's applied state (faster, may be behind) instead of a linearizable read"
      ),
      Flag.withDefault(false)
    ),
    endpoints: endpointsFlag,
    json: jsonFlag,
    timeout: timeoutFlag("5s")
  },
  (f) =>
    runWithClient(
      f,
      false,
      (kv) => kv.read(f.key, { consistency: f.stale ? "stale" : "linearizable" }),
      (read) => getOutcome(read, f.stale)
    )
).pipe(Command.withDescription("Read a key; prints its value and version"))

export const deleteCommand = Command.make(
  "delete",
  {
    key: Argument.String("key").pipe(Argument.withDescription("The key (UTF-8 text)")),
    expectedVersion: Flag.Int("expected-version").pipe(
      Flag.withDescription("Delete only if the key's version is this; else exit 3"),
      Flag.optional
    ),
    endpoints: endpointsFlag,
    json: jsonFlag,
    timeout: timeoutFlag("5s")
  },
  (f) =>
    runWithClient(
      f,
      true,
      (kv) =>
        kv.delete(
          f.key,
          Option.isSome(f.expectedVersion) ? { expectedVersion: f.expectedVersion.value } : {}
        ),
      deleteOutcome
    )
).pipe(Command.withDescription("Delete a key"))

export const statusCommand = Command.make(
  "status",
  { endpoints: endpointsFlag, json: jsonFlag, timeout: timeoutFlag("1s") },
  (f) =>
    runWithClient(
      f,
      false,
      (kv, timeoutMs) =>
        Effect.forEach(
          kv.endpoints(),
          (endpoint) =>
            kv.nodeStatus(endpoint, { timeoutMs }).pipe(
              Effect.match({
                onSuccess: (status): NodeReport => ({ endpoint, status }),
                onFailure: (error): NodeReport => ({ endpoint, error })
              })
            ),
          { concurrency: "unbounded" }
        ),
      statusOutcome
    )
).pipe(Command.withDescription("Show each node's id, role, term, leader, commit and applied index"))

/** The client subcommands, for `raftkv`'s command list. */
export const clientCommands = [putCommand, getCommand, deleteCommand, statusCommand] as const
