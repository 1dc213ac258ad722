/**
 * Markdown tables from a run of bench/run-matrix.sh: for each configuration, every run of both
 * targets (throughput, latency, CPU per operation and its V8 helper threads' share, run-queue
 * wait per operation, fsync latency, machine load), the per-run ratios, and the medians.
 *
 * Usage: node bench/matrix-table.ts <matrix-dir>
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { compareRuns, comparisonTable } from "../src/bench/compare.ts"
import type { Results } from "../src/bench/results.ts"

const dir = process.argv[2]
if (dir === undefined) {
  process.stderr.write("usage: node bench/matrix-table.ts <matrix-dir>\n")
  process.exit(2)
}

const load = (path: string): Results => JSON.parse(readFileSync(path, "utf8")) as Results
const fmt = (x: number | null | undefined, digits = 2) =>
  x === null || x === undefined ? "-" : x.toFixed(digits)

const leaderIndex = (r: Results): number => {
  const counts = new Map<number, number>()
  for (const s of r.perSecond) if (s.leader !== null) counts.set(s.leader, (counts.get(s.leader) ?? 0) + 1)
  const leader = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0]
  return Math.max(
    0,
    r.nodes.findIndex((n) => n.node === leader)
  )
}

/** The sum of a figure over the nodes; null when any node lacks it. */
const sumOfAll = (xs: ReadonlyArray<number | null | undefined>): number | null => {
  let sum = 0
  for (const x of xs) {
    if (x === null || x === undefined) return null
    sum += x
  }
  return sum
}

const row = (name: string, r: Results) => {
  const nodesCpu = r.nodes.reduce((a, n) => a + (n.cpuMsPerOp ?? 0), 0)
  // Results from before these figures were recorded have none; etcd's members are not V8 processes.
  const nodesWait = sumOfAll(r.nodes.map((n) => n.runQueueMsPerOp))
  const nodesHelpers = r.config.target === "raftkv" ? sumOfAll(r.nodes.map((n) => n.v8WorkerMsPerOp)) : null
  const leader = r.nodes[leaderIndex(r)]
  const fsyncs = leader?.persistCount ?? null
  const perFsync = fsyncs === null || fsyncs === 0 ? null : r.totals.ops / fsyncs
  return `| ${name} | ${r.config.target} | ${r.totals.opsPerSec} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.latency.maxMs} | ${r.totals.errors} | ${fmt(nodesCpu, 3)} | ${fmt(nodesHelpers, 3)} | ${fmt(nodesWait, 3)} | ${fmt(r.loadGenerator.cpuMsPerOp, 3)} | ${fmt(leader?.persistMeanMs ?? null)} | ${fmt(perFsync, 1)} | ${r.snapshots.count ?? "-"} | ${r.leaderChanges.count ?? "-"} | ${fmt(r.environment.machineBusyPercent, 0)}% / ${fmt(r.environment.load1Start, 1)} |`
}

for (const config of readdirSync(dir)
  .filter((d) => /^c\d+-r/.test(d))
  .sort((a, b) => parseInt(a.slice(1), 10) - parseInt(b.slice(1), 10) || a.localeCompare(b))) {
  const base = join(dir, config)
  const runs = readdirSync(base)
    .filter((d) => existsSync(join(base, d, "results.json")))
    .map((d) => ({ name: d, results: load(join(base, d, "results.json")) }))
    .sort((a, b) => a.results.startedAt.localeCompare(b.results.startedAt))
  const first = runs[0]?.results
  if (first === undefined) continue
  process.stdout.write(
    `\n### ${first.config.clients} client${first.config.clients === 1 ? "" : "s"}, read ratio ${first.config.readRatio} (${first.startedAt.slice(0, 16).replace("T", " ")} UTC)\n\n`
  )
  process.stdout.write(
    "| run | target | ops/s | p50 ms | p99 ms | max ms | errors | nodes CPU ms/op | of which V8 helper threads | nodes run-queue wait ms/op | client CPU ms/op | leader fsync mean ms | ops per leader fsync | snapshots | leader changes | machine busy / load1 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
  )
  for (const r of runs) process.stdout.write(`${row(r.name, r.results)}\n`)
  const pairs: Array<{ raftkv: Results["summary"]; etcd: Results["summary"] }> = []
  for (let k = 1; ; k++) {
    const a = runs.find((r) => r.name === `raftkv-${k}`)
    const b = runs.find((r) => r.name === `etcd-${k}`)
    if (a === undefined || b === undefined) break
    pairs.push({ raftkv: a.results.summary, etcd: b.results.summary })
  }
  if (pairs.length > 0) process.stdout.write(`\n${comparisonTable(compareRuns(pairs))}\n`)
}
