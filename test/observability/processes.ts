/**
 * Real processes and sockets for the observability integration test: free ports, child processes
 * stopped with the scope, bounded polling, small HTTP helpers.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { Effect, type Scope } from "effect"

/** Whether `port` can be bound on 127.0.0.1 right now. */
const canBind = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const s = Net.createServer()
    s.once("error", () => done(false))
    s.listen(port, "127.0.0.1", () => s.close(() => done(true)))
  })

/** A port that was free a moment ago. */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const s = Net.createServer()
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as Net.AddressInfo).port
    s.close(() => resume(Effect.succeed(port)))
  })
})

/** A base port B for which every port `B + offset` is free. */
export const freeBase = (offsets: ReadonlyArray<number>): Effect.Effect<number, Error> =>
  Effect.promise(async () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const base = 20_000 + 10 * Math.floor(Math.random() * 3_000)
      const free = await Promise.all(offsets.map((o) => canBind(base + o)))
      if (free.every(Boolean)) return base
    }
    return undefined
  }).pipe(
    Effect.flatMap((b) =>
      b === undefined ? Effect.fail(new Error("no free port range found")) : Effect.succeed(b)
    )
  )

export interface Running {
  readonly child: ChildProcess
  readonly log: string
  /** The last lines of its log (for failure messages). */
  readonly tail: () => string
}

export const tailOf = (path: string, lines = 30): string => {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

/** Run `command args` with output to `log` until the scope closes (SIGTERM, then SIGKILL after 10 s). */
export const spawnScoped = (
  command: string,
  args: ReadonlyArray<string>,
  log: string,
  cwd: string
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const fd = openSync(log, "a")
      const child = spawn(command, args, { cwd, stdio: ["ignore", fd, fd] })
      closeSync(fd)
      return { child, log, tail: () => tailOf(log) }
    }),
    ({ child }) =>
      Effect.promise(
        () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
            child.once("exit", () => {
              clearTimeout(timer)
              done()
            })
            child.kill("SIGTERM")
          })
      )
  )

export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** GET `url` (no keep-alive); fails on connection errors or after `timeoutMs`. */
export const httpGet = (url: string, timeoutMs = 5_000): Effect.Effect<HttpAnswer, Error> =>
  Effect.callback<HttpAnswer, Error>((resume) => {
    const req = Http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resume(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
      )
      res.on("error", (e) => resume(Effect.fail(e)))
    })
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)))
    req.on("error", (e) => resume(Effect.fail(e)))
    return Effect.sync(() => req.destroy())
  })

/**
 * Poll `check` every `everyMs` until it answers true; after `timeoutMs` fail with `what` and the
 * last thing `check` said (its error or false) plus `context()` (e.g. a log tail).
 */
export const pollUntil = (
  what: string,
  check: Effect.Effect<boolean, unknown>,
  options: { readonly timeoutMs: number; readonly everyMs?: number; readonly context?: () => string }
): Effect.Effect<void, Error> =>
  Effect.gen(function* () {
    const deadline = Date.now() + options.timeoutMs
    let last = "never checked"
    while (Date.now() < deadline) {
      const r = yield* Effect.result(check)
      if (r._tag === "Success" && r.success) return
      last = r._tag === "Success" ? "not yet" : String(r.failure)
      yield* Effect.sleep(options.everyMs ?? 250)
    }
    const extra = options.context?.() ?? ""
    return yield* Effect.fail(
      new Error(`timed out after ${options.timeoutMs} ms waiting for ${what} (last: ${last})\n${extra}`)
    )
  })
