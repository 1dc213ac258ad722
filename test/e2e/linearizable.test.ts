/**
 * Real node processes, real SDK clients (issue 5): a mixed workload under a kill -9 of the leader
 * and its restart is linearizable; after a full crash-restart every acknowledged write is still
 * there; with a small snapshot threshold the on-disk log stays bounded.
 */
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { connect, type KvConnection } from "../../src/client/index.ts"
import { checkHistory } from "../lin/checker.ts"
import type { HistoryRecord, Op, Result } from "../lin/types.ts"
import { eventually, ProcessCluster } from "./processes.ts"

let cluster: ProcessCluster | undefined
const open: KvConnection[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)))
  await cluster?.stop()
  cluster = undefined
})

const client = async (endpoints: string[]) => {
  const c = await connect({ endpoints, timeoutMs: 4000 })
  open.push(c)
  return c
}

const leaderOf = async (kv: KvConnection) => {
  const reports = await kv.clusterStatus()
  for (const r of reports) if ("status" in r && r.status.role === "leader") return r.status.id
  return undefined
}

/** Seeded PRNG so a failing run's workload can be reproduced from its seed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** One operation through the SDK, recorded: an unknown outcome (Timeout, OutcomeUnknown) keeps
 * `result` undefined, so the checker lets it take effect or not. */
const perform = async (kv: KvConnection, clientId: number, key: string, op: Op): Promise<HistoryRecord> => {
  const call = performance.now()
  let result: Result | undefined
  try {
    if (op._tag === "Get") {
      const e = await kv.getString(key)
      result = e === null ? { _tag: "Absent" } : { _tag: "Found", value: e.value, version: e.version }
    } else if (op._tag === "Put") {
      const options = op.expectedVersion === undefined ? {} : { expectedVersion: op.expectedVersion }
      result = { _tag: "Written", version: (await kv.put(key, op.value, options)).version }
    } else {
      const options = op.expectedVersion === undefined ? {} : { expectedVersion: op.expectedVersion }
      result = { _tag: "Deleted", deleted: (await kv.delete(key, options)).deleted }
    }
  } catch (e) {
    const tag = (e as { _tag?: string })._tag
    if (tag === "VersionMismatch")
      result = { _tag: "VersionMismatch", currentVersion: (e as { currentVersion: number }).currentVersion }
    else if (tag !== "Timeout" && tag !== "OutcomeUnknown") throw e
  }
  const ret = result === undefined ? undefined : performance.now()
  return { clientId, key, op, call, ret, result }
}

describe("linearizability of real processes under failures", () => {
  it("a mixed workload across kill -9 and restart of the leader is linearizable; a full restart loses nothing", async () => {
    cluster = await ProcessCluster.start({ nodes: 3 })
    const c = cluster
    const admin = await client(c.endpoints)
    const leader = await eventually("a leader", 30_000, () => leaderOf(admin))
    const history: HistoryRecord[] = []
    const keys = ["a", "b", "c", "d"]
    let stop = false
    const worker = async (id: number) => {
      const kv = await client(c.endpoints)
      const rand = prng(1000 + id)
      const seen = new Map<string, number>()
      for (let n = 0; !stop; n++) {
        const key = keys[Math.floor(rand() * keys.length)]!
        const r = rand()
        const op: Op =
          r < 0.4
            ? { _tag: "Get" }
            : r < 0.7
              ? { _tag: "Put", value: `${id}-${n}` }
              : r < 0.85
                ? { _tag: "Put", value: `${id}-${n}`, expectedVersion: seen.get(key) ?? 0 }
                : { _tag: "Delete", ...(rand() < 0.5 ? { expectedVersion: seen.get(key) ?? 0 } : {}) }
        const rec = await perform(kv, id, key, op)
        history.push(rec)
        const res = rec.result
        if (res?._tag === "Found" || res?._tag === "Written") seen.set(key, res.version)
        if (res?._tag === "VersionMismatch") seen.set(key, res.currentVersion)
      }
    }
    const workers = Array.from({ length: 6 }, (_, k) => worker(k + 1))
    await eventually("load flowing", 20_000, async () => (history.length >= 100 ? true : undefined))
    await c.kill(leader)
    await eventually("a new leader", 20_000, async () => {
      const l = await leaderOf(admin)
      return l !== undefined && l !== leader ? l : undefined
    })
    const before = history.length
    await eventually("load flowing again", 20_000, async () =>
      history.length >= before + 100 ? true : undefined
    )
    c.spawn(leader)
    await eventually("more load after the restart", 30_000, async () =>
      history.length >= before + 250 ? true : undefined
    )
    stop = true
    await Promise.all(workers)

    // Everything acknowledged must survive a crash of the whole cluster: kill -9 all, restart,
    // and read every key back as part of the same history.
    await Promise.all(c.ids.map((id) => c.kill(id)))
    for (const id of c.ids) c.spawn(id)
    const reader = await client(c.endpoints)
    await eventually("a leader after the full restart", 30_000, () => leaderOf(reader))
    for (const key of keys) history.push(await perform(reader, 99, key, { _tag: "Get" }))

    const unknown = history.filter((h) => h.result === undefined).length
    const verdict = checkHistory(history, { timeoutMs: 60_000 })
    expect(verdict.ok ? "linearizable" : `${verdict.status}: ${verdict.explanation}`).toBe("linearizable")
    expect(history.length - unknown).toBeGreaterThan(250)
  }, 240_000)

  it("with a small snapshot threshold the on-disk log stays under 8x the threshold", async () => {
    const threshold = 64 * 1024
    cluster = await ProcessCluster.start({ nodes: 3, extraArgs: ["--snapshot-threshold", "64KiB"] })
    const kv = await client(cluster.endpoints)
    await eventually("a leader", 30_000, () => leaderOf(kv))
    const logDirBytes = (id: number) => {
      const dir = join(cluster!.dir, `n${id}`, "log")
      return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0)
    }
    const value = "x".repeat(512)
    let largest = 0
    // ~6 MiB of writes, ~100 times the threshold, in pipelined batches.
    for (let round = 0; round < 100; round++) {
      await Promise.all(Array.from({ length: 120 }, (_, k) => kv.put(`k${k}`, `${round}:${value}`)))
      if (round % 10 === 9) for (const id of cluster.ids) largest = Math.max(largest, logDirBytes(id))
    }
    expect(largest).toBeGreaterThan(0)
    expect(largest).toBeLessThan(8 * threshold)
    const last = await kv.getString("k7")
    expect(last?.value).toBe(`99:${value}`)
  }, 240_000)
})
