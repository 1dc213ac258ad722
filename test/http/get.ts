/** A plain HTTP GET for tests (no keep-alive, so servers can close at once). */
import * as Http from "node:http"
import { Effect } from "effect"

export interface Got {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

export const get = (url: string): Effect.Effect<Got, Error> =>
  Effect.callback<Got, Error>((resume) => {
    const req = Http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resume(
          Effect.succeed({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8")
          })
        )
      )
      res.on("error", (e) => resume(Effect.fail(e)))
    })
    req.on("error", (e) => resume(Effect.fail(e)))
    return Effect.sync(() => req.destroy())
  })
