/**
 * The dashboard, proven against a real Prometheus: a live 3-node cluster of real processes
 * (`raftkv cluster`) under a short client load, scraped by a real Prometheus every second with the
 * repo's scrape config; then every query of every dashboard panel, evaluated through Prometheus'
 * HTTP API, must return at least one finite sample.
 *
 * Needs the `prometheus` and `promtool` binaries (Debian package `prometheus`): without them the
 * test fails and says so.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as KvClient from "../../src/client/KvClient.ts"
import { promtool, requireBinary } from "../metrics/promtool.ts"
import { freeBase, freePort, httpGet, pollUntil, spawnScoped, tailOf } from "./processes.ts"

const root = resolve(import.meta.dirname, "../..")
const dashboardPath = join(root, "deploy/grafana/raftkv-dashboard.json")
const scrapeConfigPath = join(root, "deploy/prometheus/prometheus.yml")

const NODES = 3
const SCRAPE_SECONDS = 1
const LOAD_SECONDS = 8
const WORKERS = 16
/** What Grafana would put for `$__rate_interval` at a 1 s scrape interval over a short range. */
const RATE_INTERVAL = "15s"

interface Target {
  readonly expr: string
  readonly refId: string
}
interface Panel {
  readonly type: string
  readonly title: string
  readonly targets?: ReadonlyArray<Target>
}
interface Dashboard {
  readonly panels: ReadonlyArray<Panel>
}

/** The dashboard's queries with Grafana's variables filled in as Grafana would (all nodes). */
const dashboardQueries = (): ReadonlyArray<{
  readonly panel: string
  readonly refId: string
  readonly expr: string
}> => {
  const dashboard = JSON.parse(readFileSync(dashboardPath, "utf8")) as Dashboard
  return dashboard.panels
    .filter((p) => p.type !== "row")
    .flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        panel: p.title,
        refId: t.refId,
        expr: t.expr.replaceAll("$__rate_interval", RATE_INTERVAL).replaceAll("$node", ".*")
      }))
    )
}

/** The repo's scrape config pointed at the test cluster's HTTP ports, scraping every second. */
const scrapeConfigFor = (base: number): string => {
  let text = readFileSync(scrapeConfigPath, "utf8")
  for (let i = 1; i <= NODES; i++) {
    const from = `127.0.0.1:${7200 + i}`
    assert.include(text, from, `the scrape config lists node ${i} at its default HTTP port`)
    text = text.replaceAll(from, `127.0.0.1:${base + 200 + i}`)
  }
  return text
    .replace(/scrape_interval: \S+/, `scrape_interval: ${SCRAPE_SECONDS}s`)
    .replace(/scrape_timeout: \S+/, `scrape_timeout: ${SCRAPE_SECONDS}s`)
    .replace(/evaluation_interval: \S+/, `evaluation_interval: ${SCRAPE_SECONDS}s`)
}

interface QueryAnswer {
  readonly status: string
  readonly error?: string
  readonly data?: {
    readonly resultType: string
    readonly result: ReadonlyArray<{ readonly value: [number, string] }>
  }
}

describe("Grafana dashboard against a real Prometheus", () => {
  it.live(
    "every panel query returns data for a live 3-node cluster under load",
    () =>
      Effect.gen(function* () {
        const prometheus = requireBinary("prometheus")
        const configCheck = promtool(["check", "config", scrapeConfigPath])
        assert.strictEqual(configCheck.status, 0, `promtool check config:\n${configCheck.output}`)
        const queries = dashboardQueries()
        assert.isAtLeast(queries.length, 20)
        for (const q of queries) assert.notInclude(q.expr, "$", `${q.panel}: unresolved variable`)

        const dir = mkdtempSync(join(tmpdir(), "raftkv-observability-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))

        // --- the cluster, through the CLI
        const base = yield* freeBase([1, 2, 3, 101, 102, 103, 201, 202, 203])
        const clusterLog = join(dir, "cluster.log")
        const dataDir = join(dir, "data")
        const cluster = yield* spawnScoped(
          process.execPath,
          [
            join(root, "src/cli/main.ts"),
            "cluster",
            "--nodes",
            String(NODES),
            "--data-dir",
            dataDir,
            "--base-port",
            String(base),
            "--snapshot-threshold",
            "64KiB"
          ],
          clusterLog,
          root
        )
        const nodeLogs = () =>
          [
            `cluster: ${cluster.tail()}`,
            ...Array.from(
              { length: NODES },
              (_, k) => `node ${k + 1}: ${tailOf(join(dataDir, `n${k + 1}.log`), 15)}`
            )
          ].join("\n")
        const http = (i: number) => `http://127.0.0.1:${base + 200 + i}`
        yield* pollUntil(
          "every node's /health to answer 200 (is the HTTP layer served by `raftkv node --http`?)",
          Effect.forEach(
            Array.from({ length: NODES }, (_, k) => k + 1),
            (i) => httpGet(`${http(i)}/health`)
          ).pipe(Effect.map((rs) => rs.every((r) => r.status === 200))),
          { timeoutMs: 90_000, context: nodeLogs }
        )

        // --- Prometheus, with the repo's scrape config
        const configPath = join(dir, "prometheus.yml")
        writeFileSync(configPath, scrapeConfigFor(base))
        const generatedCheck = promtool(["check", "config", configPath])
        assert.strictEqual(generatedCheck.status, 0, generatedCheck.output)
        const promPort = yield* freePort
        const promUrl = `http://127.0.0.1:${promPort}`
        const prom = yield* spawnScoped(
          prometheus,
          [
            `--config.file=${configPath}`,
            `--storage.tsdb.path=${join(dir, "tsdb")}`,
            `--web.listen-address=127.0.0.1:${promPort}`,
            "--log.level=warn"
          ],
          join(dir, "prometheus.log"),
          dir
        )
        yield* pollUntil(
          "Prometheus to be ready",
          httpGet(`${promUrl}/-/ready`).pipe(Effect.map((r) => r.status === 200)),
          { timeoutMs: 30_000, context: prom.tail }
        )
        const query = (expr: string, at?: number) =>
          httpGet(
            `${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}${at === undefined ? "" : `&time=${at}`}`
          ).pipe(Effect.map((r) => JSON.parse(r.body) as QueryAnswer))
        yield* pollUntil(
          "Prometheus to scrape every node",
          query('up{job="raftkv"} == 1').pipe(Effect.map((a) => a.data?.result.length === NODES)),
          { timeoutMs: 30_000, context: prom.tail }
        )

        // --- a short client load
        const endpoints = Array.from({ length: NODES }, (_, k) => `127.0.0.1:${base + 100 + k + 1}`)
        const client = yield* KvClient.make({ endpoints })
        const value = "v".repeat(200)
        let ok = 0
        let failed = 0
        const loadEnd = Date.now() + LOAD_SECONDS * 1000
        yield* Effect.forEach(
          Array.from({ length: WORKERS }, (_, w) => w),
          (w) =>
            Effect.gen(function* () {
              for (let i = 0; Date.now() < loadEnd; i++) {
                const key = `k-${w}-${i % 64}`
                const op = i % 4 === 3 ? client.get(key) : client.put(key, value)
                const r = yield* Effect.result(op)
                if (r._tag === "Success") ok++
                else failed++
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
        assert.isAtLeast(ok, 100, `client load: ${ok} ok, ${failed} failed`)

        // --- wait for the scrapes that cover the end of the load, then evaluate every query there
        const at = Math.ceil(Date.now() / 1000) + 2 * SCRAPE_SECONDS
        yield* pollUntil(
          "a scrape after the load",
          query("min(timestamp(raftkv_raft_commit_index))").pipe(
            Effect.map((a) => Number(a.data?.result[0]?.value[1] ?? 0) >= at)
          ),
          { timeoutMs: 30_000, context: prom.tail }
        )
        const failures: string[] = []
        for (const q of queries) {
          const answer = yield* query(q.expr, at)
          const samples = answer.data?.result ?? []
          const finite = samples.filter((s) => Number.isFinite(Number(s.value[1])))
          if (answer.status !== "success") failures.push(`${q.panel} [${q.refId}] ${q.expr}: ${answer.error}`)
          else if (samples.length === 0) failures.push(`${q.panel} [${q.refId}] ${q.expr}: no series`)
          else if (finite.length === 0)
            failures.push(`${q.panel} [${q.refId}] ${q.expr}: only NaN/Inf values`)
        }
        assert.deepStrictEqual(failures, [], `dashboard queries without data:\n${failures.join("\n")}`)
      }).pipe(Effect.scoped),
    300_000
  )
})
