/**
 * The sampler against fake members: a local HTTP server plays each member's /metrics (its
 * counters advanced between readings by the test), and this very process plays the member
 * process read from /proc.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { raftkvMetrics } from "../../src/bench/raftkv-target.ts"
import { Sampler } from "../../src/bench/sampler.ts"
import type { Target } from "../../src/bench/target.ts"

interface FakeMember {
  /** Synced writes so far, each taking `persistSeconds`. */
  persists: number
  persistSeconds: number
  leaderChanges: number
  snapshots: number
  leader: boolean
  up: boolean
}

const members: FakeMember[] = [1, 2].map(() => ({
  persists: 0,
  persistSeconds: 0.002,
  leaderChanges: 0,
  snapshots: 0,
  leader: false,
  up: true
}))

const exposition = (m: FakeMember): string => {
  const bounds = [0.001, 0.0025, 0.005]
  const cumulative = bounds.map((b) => (m.persistSeconds <= b ? m.persists : 0))
  return [
    "# TYPE raftkv_raft_persist_duration_seconds histogram",
    ...bounds.map((b, i) => `raftkv_raft_persist_duration_seconds_bucket{le="${b}"} ${cumulative[i]}`),
    `raftkv_raft_persist_duration_seconds_bucket{le="+Inf"} ${m.persists}`,
    `raftkv_raft_persist_duration_seconds_sum ${m.persists * m.persistSeconds}`,
    `raftkv_raft_persist_duration_seconds_count ${m.persists}`,
    `raftkv_raft_leader_changes_total ${m.leaderChanges}`,
    `raftkv_kv_snapshots_total ${m.snapshots}`,
    `raftkv_raft_role{role="leader"} ${m.leader ? 1 : 0}`,
    `raftkv_raft_role{role="follower"} ${m.leader ? 0 : 1}`
  ].join("\n")
}

let server: Http.Server
let port = 0

beforeAll(async () => {
  server = Http.createServer((req, res) => {
    const m = members[Number(req.url?.split("/")[1])]
    if (m === undefined || !m.up) {
      res.writeHead(503).end()
      return
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(exposition(m))
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((done) => server.close(() => done())))

const target = (): Target => ({
  name: "raftkv",
  version: "test",
  endpoints: [],
  members: members.map((_, i) => ({
    node: i + 1,
    pid: process.pid,
    metricsUrl: `http://127.0.0.1:${port}/${i}/metrics`
  })),
  metrics: raftkvMetrics,
  newClient: () => Promise.reject(new Error("not used")),
  leader: () => Promise.resolve(undefined)
})

describe("Sampler", () => {
  it("turns cumulative member metrics into per-second figures and window totals", async () => {
    members[0]!.leader = true
    const sampler = new Sampler(target())
    await sampler.start()
    // Second 1: member 1 syncs 100 times at 2 ms, member 2 50 times; member 2 sees a leader change.
    members[0]!.persists += 100
    members[1]!.persists += 50
    members[1]!.leaderChanges += 1
    const s1 = await sampler.tick()
    expect(s1.members.map((m) => m.persist?.count)).toEqual([100, 50])
    expect(s1.members[0]!.persist!.meanMs).toBeCloseTo(2, 6)
    expect(s1.members[0]!.persist!.p50Ms).toBeGreaterThan(1)
    expect(s1.members[0]!.persist!.p50Ms).toBeLessThanOrEqual(2.5)
    expect(s1.leader).toBe(1)
    expect(s1.members.map((m) => m.leaderChanges)).toEqual([0, 1])
    expect(s1.members.map((m) => m.snapshots)).toEqual([0, 0])
    expect(s1.members.every((m) => m.cpuPercent !== null && m.rssBytes !== null && m.rssBytes > 0)).toBe(true)
    // Second 2: member 2 cannot be read; member 1 takes a snapshot and hands leadership to 2.
    members[1]!.up = false
    members[1]!.persists += 30
    members[0]!.persists += 10
    members[0]!.persistSeconds = 0.004
    members[0]!.snapshots += 1
    const s2 = await sampler.tick()
    expect(s2.members[1]!.persist).toBeNull()
    expect(s2.members[0]!.persist!.count).toBe(10)
    expect(s2.members.map((m) => m.snapshots)).toEqual([1, null])
    // Second 3: member 2 is back; its reading is compared with the last one that succeeded.
    members[1]!.up = true
    members[0]!.leader = false
    const s3 = await sampler.tick()
    expect(s3.members[1]!.persist!.count).toBe(30)
    expect(s3.leader).toBeNull()
    const report = sampler.report()
    expect(report.perSecond).toHaveLength(3)
    expect(report.members.map((m) => m.persistCount)).toEqual([110, 80])
    expect(report.members.map((m) => m.snapshots)).toEqual([1, 0])
    expect(report.snapshots).toEqual({ count: 1, source: "metrics" })
    expect(report.leaderChanges).toEqual({ count: 1, source: "metrics" })
    expect(report.members.every((m) => m.metricsAvailable && m.pid === process.pid)).toBe(true)
    expect(report.members.every((m) => m.cpuSeconds !== null && m.cpuSeconds >= 0)).toBe(true)
    expect(report.bench.cpuSeconds).toBeGreaterThanOrEqual(0)
    // This process's threads, read from /proc like a node's.
    expect(report.members.every((m) => m.runQueueSeconds !== null && m.runQueueSeconds >= 0)).toBe(true)
    expect(report.bench.runQueueSeconds).toBeGreaterThanOrEqual(0)
    expect(report.members.every((m) => m.v8WorkerCpuSeconds !== null && m.v8WorkerCpuSeconds >= 0)).toBe(true)
    expect(report.bench.v8WorkerCpuSeconds).toBeGreaterThanOrEqual(0)
    expect(
      report.perSecond.every((s) =>
        s.members.every((m) => m.v8WorkerCpuPercent !== null && m.v8WorkerCpuPercent >= 0)
      )
    ).toBe(true)
  })

  it("falls back to the leaders it observed when members serve no metrics", async () => {
    const observed = [1, 1, 2]
    const t: Target = {
      ...target(),
      members: [{ node: 1, pid: undefined, metricsUrl: undefined }],
      leader: () => Promise.resolve({ node: observed.shift() ?? 2, term: 1 })
    }
    const sampler = new Sampler(t)
    await sampler.start()
    await sampler.tick()
    await sampler.tick()
    const report = sampler.report()
    expect(report.leaderChanges).toEqual({ count: 1, source: "observed" })
    expect(report.snapshots).toEqual({ count: null, source: "none" })
    expect(report.members[0]!.cpuSeconds).toBeNull()
    expect(report.members[0]!.runQueueSeconds).toBeNull()
    expect(report.members[0]!.v8WorkerCpuSeconds).toBeNull()
    expect(report.perSecond.map((s) => s.members[0]!.v8WorkerCpuPercent)).toEqual([null, null])
    expect(report.perSecond.map((s) => s.members[0]!.persist)).toEqual([null, null])
  })
})
