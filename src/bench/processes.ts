/**
 * Child processes of the bench (cluster members): free ports, spawning with output to a log
 * file, and a stop that always ends them (SIGTERM, then SIGKILL).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope, Schema } from "effect"

/** The bench could not set up or run the system under test. */
export class BenchSetupFailed extends Schema.TaggedError<BenchSetupFailed>()("BenchSetupFailed", {
  message: Schema.String
}) {}

const canBind = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const s = Net.createServer()
    s.once("error", () => done(false))
    s.listen(port, "127.0.0.1", () => s.close(() => done(true)))
  })

/**
 * A temporary data dir for the members of a local cluster, for the lifetime of the scope. At the
 * end each member's log is copied to `<outDir>/nodes/<name>` and the dir is removed (unless
 * `keepData`).
 */
export const scopedDataDir = (options: {
  readonly prefix: string
  readonly outDir: string
  readonly keepData: boolean
  /** Each member's log file inside the dir, and the name it gets in `<outDir>/nodes`. */
  readonly logs: ReadonlyArray<{ readonly path: (dir: string) => string; readonly name: string }>
}): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), options.prefix))),
    (dir) =>
      Effect.sync(() => {
        const logs = join(options.outDir, "nodes")
        mkdirSync(logs, { recursive: true })
        for (const l of options.logs) cpSync(l.path(dir), join(logs, l.name), { force: true })
        if (!options.keepData) rmSync(dir, { recursive: true, force: true })
      }).pipe(Effect.ignore)
  )

/**
 * A base port B such that every `B + offset` could be bound a moment ago (others on this machine
 * may take one before we do; starting a cluster then fails and says which port).
 */
export const freeBasePort = (offsets: ReadonlyArray<number>): Effect.Effect<number, BenchSetupFailed> =>
  Effect.promise(async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const base = 20_000 + 10 * Math.floor(Math.random() * 3_500)
      const free = await Promise.all(offsets.map((o) => canBind(base + o)))
      if (free.every(Boolean)) return base
    }
    return undefined
  }).pipe(
    Effect.flatMap((b) =>
      b === undefined
        ? Effect.fail(new BenchSetupFailed({ message: "no free range of ports found on 127.0.0.1" }))
        : Effect.succeed(b)
    )
  )

/** The last lines of a log file (for failure messages). */
export const tailOf = (path: string, lines = 15): string => {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

/** Start `command args` with stdout and stderr appended to `log`. */
export const spawnLogged = (
  command: string,
  args: ReadonlyArray<string>,
  log: string,
  env?: NodeJS.ProcessEnv
): ChildProcess => {
  const out = createWriteStream(log, { flags: "a" })
  const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env })
  child.stdout?.pipe(out)
  child.stderr?.pipe(out)
  // A failed spawn (missing binary) surfaces as an exit; the error itself must not crash us.
  child.on("error", (e) => out.write(`spawn error: ${e.message}\n`))
  return child
}

export const hasExited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null

/** Stop every child: SIGTERM, and SIGKILL for any still running after `graceMs`. */
export const stopChildren = (children: ReadonlyArray<ChildProcess>, graceMs = 10_000): Promise<void> =>
  Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (hasExited(c) || c.pid === undefined) return done()
          c.once("exit", () => done())
          c.kill("SIGTERM")
          setTimeout(() => c.kill("SIGKILL"), graceMs).unref()
        })
    )
  ).then(() => undefined)

/**
 * Poll `check` every `everyMs` until it answers true, for at most `timeoutMs`; `died` is checked
 * first on every round and ends the wait with its message.
 */
export const waitUntil = (
  what: string,
  check: () => Promise<boolean>,
  died: () => string | undefined,
  timeoutMs: number,
  everyMs = 200
): Effect.Effect<void, BenchSetupFailed> =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const dead = died()
      if (dead !== undefined) return dead
      if (await check().catch(() => false)) return undefined
      await new Promise((r) => setTimeout(r, everyMs))
    }
    return `${what}: not ready within ${Math.round(timeoutMs / 1000)} s`
  }).pipe(
    Effect.flatMap((failure) =>
      failure === undefined ? Effect.void : Effect.fail(new BenchSetupFailed({ message: failure }))
    )
  )
