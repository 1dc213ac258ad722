/**
 * The charts of one run, written next to its results.json as SVG and PNG:
 * - `ops-latency`: operations per second and p50/p99 latency over time;
 * - `persistence`: each member's synced-write (fsync) latency over time, from its metrics;
 * - `latency-distribution`: latency by percentile over the whole window.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  distributionChart,
  type LineSeries,
  opsLatencyChart,
  renderSvg,
  svgToPng,
  timeLinesChart
} from "./charts.ts"
import { type Recorder, spectrum } from "./recorder.ts"
import type { Results } from "./results.ts"

const write = (dir: string, name: string, option: Parameters<typeof renderSvg>[0]): string[] => {
  const svg = renderSvg(option)
  writeFileSync(join(dir, `${name}.svg`), svg)
  writeFileSync(join(dir, `${name}.png`), svgToPng(svg))
  return [`${name}.png`, `${name}.svg`]
}

/** "raftkv, 20 clients, write-only, 3 nodes" */
export const describeRun = (r: Results): string => {
  const mix = r.config.readRatio === 0 ? "write-only" : `${Math.round(r.config.readRatio * 100)}% reads`
  const conn = r.config.sharedClient ? ", shared client" : ""
  return `${r.config.target}, ${r.config.clients} client${r.config.clients === 1 ? "" : "s"}, ${mix}, ${r.config.valueSize} B values${conn}`
}

/** Draw the run's charts into `dir`; answers the file names. */
export const writeRunCharts = (dir: string, r: Results, recorder: Recorder): ReadonlyArray<string> => {
  const what = describeRun(r)
  const subtitle = `${r.totals.opsPerSec} ops/s, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, ${r.totals.errors} errors - ${r.startedAt.slice(0, 16).replace("T", " ")} UTC`
  const files: string[] = []
  files.push(
    ...write(
      dir,
      "ops-latency",
      opsLatencyChart({
        title: `Client operations and latency (${what})`,
        subtitle: r.perSecond.some((s) => s.snapshots > 0)
          ? `${subtitle}; marked: a node took a snapshot`
          : subtitle,
        ops: r.perSecond.map((s) => s.ops),
        p50Ms: r.perSecond.map((s) => s.p50Ms),
        p99Ms: r.perSecond.map((s) => s.p99Ms),
        errors: r.perSecond.map((s) => s.errors),
        snapshotSeconds: r.perSecond.filter((s) => s.snapshots > 0).map((s) => s.second),
        leaderChangeSeconds: r.perSecond.filter((s) => s.leaderChanges > 0).map((s) => s.second)
      })
    )
  )
  const leaderSeconds = new Map<number, number>()
  for (const s of r.perSecond)
    if (s.leader !== null) leaderSeconds.set(s.leader, (leaderSeconds.get(s.leader) ?? 0) + 1)
  const series: LineSeries[] = r.nodes.flatMap((n, i) => {
    const values = r.perSecond.map((s) => s.persist[i] ?? null)
    if (values.every((v) => v === null)) return []
    const name = `node ${n.node}${leaderSeconds.get(n.node) === r.perSecond.length ? " (leader)" : ""}`
    return [
      {
        name: `${name} mean`,
        group: i,
        values: values.map((v) => (v === null || v.count === 0 ? null : v.meanMs))
      },
      {
        name: `${name} p99`,
        group: i,
        dashed: true,
        values: values.map((v) => (v === null || v.count === 0 ? null : v.p99Ms))
      }
    ]
  })
  files.push(
    ...write(
      dir,
      "persistence",
      timeLinesChart({
        title: `Persistence latency: one synced log write (${what})`,
        subtitle: `${r.persistence.metric}, per second; p99 estimated from histogram buckets`,
        yName: "latency (ms)",
        seconds: r.perSecond.length,
        series,
        emptyNote: "no persistence metrics could be read from the nodes"
      })
    )
  )
  const kinds =
    r.config.readRatio > 0 && r.config.readRatio < 1
      ? [
          { name: "all operations", points: spectrum(recorder.merged("all")) },
          { name: "reads", points: spectrum(recorder.merged("read")) },
          { name: "writes", points: spectrum(recorder.merged("write")) }
        ]
      : [{ name: "all operations", points: spectrum(recorder.merged("all")) }]
  files.push(
    ...write(
      dir,
      "latency-distribution",
      distributionChart({ title: `Latency distribution (${what})`, subtitle, series: kinds })
    )
  )
  return files
}
