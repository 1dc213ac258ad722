/**
 * Short real runs of `raftkv bench` (a few seconds, 2 clients): against a fresh local raftkv
 * cluster of node processes and against a local etcd cluster. Each checks the output files exist
 * and are well formed, the counts add up, the charts are valid PNGs, and stdout ends with the
 * summary line.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { etcdMissing, findEtcd } from "../../src/bench/etcd-target.ts"
import { checkRunDir } from "./check.ts"
import { runBenchCli, summaryLine } from "./cli.ts"

const RUN_TIMEOUT_MS = 150_000
const dirs: string[] = []
const outDir = () => {
  const d = mkdtempSync(join(tmpdir(), "raftkv-bench-test-"))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const shortRun = ["--clients", "2", "--duration", "3s", "--warmup", "1s", "--quiet"]

describe("raftkv bench", () => {
  it(
    "runs 2 clients against a fresh local raftkv cluster and writes consistent results and charts",
    async () => {
      const out = outDir()
      const run = await runBenchCli([...shortRun, "--read-ratio", "0.5", "--out", out], RUN_TIMEOUT_MS)
      expect(run.code, run.stderr).toBe(0)
      const r = checkRunDir(out)
      expect(summaryLine(run.stdout)).toEqual(r.summary)
      expect(Object.keys(summaryLine(run.stdout))).toEqual([
        "target",
        "clients",
        "readRatio",
        "opsPerSec",
        "p50Ms",
        "p99Ms",
        "errors"
      ])
      expect(r.config.target).toBe("raftkv")
      expect(r.totals.ops).toBeGreaterThan(0)
      expect(r.totals.reads).toBeGreaterThan(0)
      expect(r.totals.writes).toBeGreaterThan(0)
      // Three node processes, measured from /proc, each serving its metrics.
      expect(r.nodes).toHaveLength(3)
      for (const n of r.nodes) {
        expect(n.pid).toBeGreaterThan(0)
        expect(n.cpuSeconds).toBeGreaterThan(0)
        expect(n.runQueueMsPerOp).toBeGreaterThanOrEqual(0)
        // Node processes: V8's helper threads are part of, and so at most, the process's CPU.
        expect(n.v8WorkerMsPerOp).toBeGreaterThanOrEqual(0)
        expect(n.v8WorkerMsPerOp!).toBeLessThanOrEqual(n.cpuMsPerOp! + 0.01)
        expect(n.rssBytesMax).toBeGreaterThan(0)
        expect(n.metricsAvailable, `node ${n.node} metrics`).toBe(true)
      }
      // Writes were persisted: synced writes happened on every node.
      expect(r.persistence.perNode.every((p) => (p.count ?? 0) > 0)).toBe(true)
      expect(r.leaderChanges.source).toBe("metrics")
      expect(r.snapshots.source).toBe("metrics")
    },
    RUN_TIMEOUT_MS + 20_000
  )

  it(
    "runs the same workload against a local 3-member etcd cluster (fails when etcd is missing)",
    async () => {
      // etcd is installed here and in CI (.ci/run): a missing binary is a failure, not a skip.
      expect(findEtcd(), etcdMissing).toBeDefined()
      const out = outDir()
      const run = await runBenchCli([...shortRun, "--target", "etcd", "--out", out], RUN_TIMEOUT_MS)
      expect(run.code, run.stderr).toBe(0)
      const r = checkRunDir(out)
      expect(summaryLine(run.stdout)).toEqual(r.summary)
      expect(r.config.target).toBe("etcd")
      expect(r.environment.target).toMatch(/^etcd 3\.4\./)
      expect(r.totals.ops).toBeGreaterThan(0)
      expect(r.totals.writes).toBe(r.totals.ops)
      expect(r.nodes).toHaveLength(3)
      for (const n of r.nodes) {
        expect(n.pid).toBeGreaterThan(0)
        expect(n.cpuSeconds).toBeGreaterThan(0)
        expect(n.runQueueMsPerOp).toBeGreaterThanOrEqual(0)
        expect(n.metricsAvailable, `member ${n.node} metrics`).toBe(true)
      }
      expect(r.loadGenerator.runQueueMsPerOp).toBeGreaterThanOrEqual(0)
      expect(r.loadGenerator.v8WorkerMsPerOp).toBeGreaterThanOrEqual(0)
      // etcd's WAL fsyncs are its persistence latency.
      expect(r.persistence.metric).toBe("etcd_disk_wal_fsync_duration_seconds")
      expect(r.persistence.perNode.every((p) => (p.count ?? 0) > 0)).toBe(true)
    },
    RUN_TIMEOUT_MS + 20_000
  )
})
