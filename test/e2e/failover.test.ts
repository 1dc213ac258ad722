/**
 * Real node processes over real TCP (issue 4): leader failover with kill -9, durability of every
 * acknowledged write across a crash of the whole cluster, catch-up by snapshot, and a partition.
 */
import { Exit } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { bytes, RawClient, text } from "./client.ts"
import { ELECTION_TIMEOUT_MS, eventually, ProcessCluster } from "./processes.ts"

const ELECTION_MAX_MS = ELECTION_TIMEOUT_MS[1]

/** One bare client per node, reconnected when a node restarts. */
class Clients {
  private readonly open = new Map<number, RawClient>()
  private readonly cluster: ProcessCluster
  constructor(cluster: ProcessCluster) {
    this.cluster = cluster
  }

  async get(id: number): Promise<RawClient> {
    let c = this.open.get(id)
    if (c === undefined) {
      c = await RawClient.connect(this.cluster.endpoint(id))
      this.open.set(id, c)
    }
    return c
  }

  async drop(id: number): Promise<void> {
    const c = this.open.get(id)
    this.open.delete(id)
    await c?.close().catch(() => undefined)
  }

  async status(id: number) {
    const exit = await (await this.get(id)).run((rpc) => rpc.Status(), 1000)
    if (Exit.isFailure(exit)) {
      await this.drop(id)
      return undefined
    }
    return exit.value
  }

  /** The node that leads the highest term among `ids`, if any. */
  async leader(ids: ReadonlyArray<number>): Promise<{ id: number; term: number } | undefined> {
    let best: { id: number; term: number } | undefined
    for (const id of ids) {
      const s = await this.status(id).catch(() => undefined)
      if (s?.role === "leader" && (best === undefined || s.term > best.term)) best = { id, term: s.term }
    }
    return best
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.open.keys()]) await this.drop(id)
  }
}

/** A writer with its own session on one node: sequential puts, remembering what was acknowledged. */
const openSession = async (client: RawClient): Promise<number> => {
  const exit = await client.run((rpc) => rpc.OpenSession())
  if (Exit.isFailure(exit)) throw new Error(`OpenSession failed: ${String(exit.cause)}`)
  return exit.value.session
}

let cluster: ProcessCluster | undefined
let clients: Clients | undefined
afterEach(async () => {
  await clients?.closeAll()
  await cluster?.stop()
  cluster = undefined
  clients = undefined
})

const start = async (spec: Parameters<typeof ProcessCluster.start>[0]) => {
  cluster = await ProcessCluster.start(spec)
  clients = new Clients(cluster)
  const c = clients
  const all = cluster.ids
  const leader = await eventually("a leader", 30_000, () => c.leader(all))
  return { cluster, clients: c, leader }
}

describe("real node processes over TCP", () => {
  it("elects a new leader within a few election timeouts after kill -9 of the leader; the old one catches up", async () => {
    const { cluster, clients, leader } = await start({ nodes: 3 })
    const client = await clients.get(leader.id)
    const session = await openSession(client)
    for (let seq = 1; seq <= 10; seq++) {
      const exit = await client.run((rpc) =>
        rpc.Put({ session, seq, ack: seq - 1, key: bytes(`k${seq}`), value: bytes(`v${seq}`) })
      )
      expect(Exit.isSuccess(exit)).toBe(true)
    }

    await clients.drop(leader.id)
    const killedAt = Date.now()
    await cluster.kill(leader.id)
    const rest = cluster.ids.filter((id) => id !== leader.id)
    const next = await eventually("a new leader", 15_000, () => clients.leader(rest))
    const failoverMs = Date.now() - killedAt
    expect(next.term).toBeGreaterThan(leader.term)
    // Detection takes one election timeout, PreVote + vote a few round trips; allow a few.
    expect(failoverMs).toBeLessThan(5 * ELECTION_MAX_MS + 2000)

    const newLeader = await clients.get(next.id)
    const s2 = await openSession(newLeader)
    const after = await newLeader.run((rpc) =>
      rpc.Put({ session: s2, seq: 1, ack: 0, key: bytes("after"), value: bytes("x") })
    )
    expect(Exit.isSuccess(after)).toBe(true)

    cluster.spawn(leader.id)
    const commit = (await clients.status(next.id))!.commitIndex
    await eventually("the restarted node catches up", 60_000, async () => {
      const s = await clients.status(leader.id)
      return s !== undefined && s.appliedIndex >= commit && s.role === "follower" ? s : undefined
    })
    const restarted = await clients.get(leader.id)
    const read = await restarted.run((rpc) => rpc.Get({ key: bytes("after"), consistency: "stale" }))
    expect(Exit.isSuccess(read) && read.value.entry !== null && text(read.value.entry.value)).toBe("x")
  }, 120_000)

  it("keeps every acknowledged write, in order, when every node is killed -9 mid-stream", async () => {
    const { cluster, clients, leader } = await start({ nodes: 3 })
    const writers = 4
    const acked: Array<Array<{ key: string; value: string; version?: number }>> = []
    let stop = false
    const runWriter = async (w: number) => {
      const client = await RawClient.connect(cluster.endpoint(leader.id))
      const mine: Array<{ key: string; value: string; version?: number }> = []
      acked[w] = mine
      try {
        const session = await openSession(client)
        for (let seq = 1; !stop; seq++) {
          // Alternate: a fresh key, and the writer's own counter key (checks order: version = value).
          const fresh = seq % 2 === 1
          const key = fresh ? `w${w}-${seq}` : `w${w}-counter`
          const value = fresh ? `${seq}` : `${seq / 2}`
          const exit = await client.run((rpc) =>
            rpc.Put({ session, seq, ack: seq - 1, key: bytes(key), value: bytes(value) })
          )
          if (Exit.isFailure(exit)) break
          mine.push({ key, value, version: exit.value.version })
        }
      } finally {
        await client.close().catch(() => undefined)
      }
    }
    const running = Array.from({ length: writers }, (_, w) => runWriter(w))
    await eventually("writes flowing", 20_000, async () => (acked.flat().length >= 200 ? true : undefined))
    await Promise.all(cluster.ids.map((id) => cluster.kill(id)))
    stop = true
    await Promise.all(running)
    await clients.closeAll()
    const all = acked.flat()
    expect(all.length).toBeGreaterThanOrEqual(200)

    for (const id of cluster.ids) cluster.spawn(id)
    const again = await eventually("a leader after restart", 30_000, () => clients.leader(cluster.ids))
    const reader = await clients.get(again.id)
    for (const w of acked) {
      for (const { key, value } of w.filter((a) => !a.key.endsWith("counter"))) {
        const r = await reader.run((rpc) => rpc.Get({ key: bytes(key), consistency: "linearizable" }))
        expect(
          Exit.isSuccess(r) && r.value.entry !== null ? text(r.value.entry.value) : `missing ${key}`
        ).toBe(value)
      }
      const counter = w.filter((a) => a.key.endsWith("counter")).at(-1)
      if (counter !== undefined) {
        const r = await reader.run((rpc) => rpc.Get({ key: bytes(counter.key), consistency: "linearizable" }))
        expect(Exit.isSuccess(r) && r.value.entry !== null).toBe(true)
        if (Exit.isSuccess(r) && r.value.entry !== null) {
          // Sequential writes: version n holds value n, and nothing acknowledged was lost.
          expect(r.value.entry.version).toBeGreaterThanOrEqual(counter.version!)
          expect(text(r.value.entry.value)).toBe(String(r.value.entry.version))
        }
      }
    }
  }, 120_000)

  it("a node restarted after the log was compacted catches up by snapshot", async () => {
    const { cluster, clients, leader } = await start({
      nodes: 3,
      extraArgs: ["--snapshot-threshold", "16KiB"]
    })
    const lagging = cluster.ids.find((id) => id !== leader.id)!
    await clients.drop(lagging)
    await cluster.kill(lagging)
    const client = await clients.get(leader.id)
    const session = await openSession(client)
    const value = "v".repeat(100)
    for (let seq = 1; seq <= 600; seq++) {
      const exit = await client.run((rpc) =>
        rpc.Put({ session, seq, ack: seq - 1, key: bytes(`k${seq % 50}`), value: bytes(`${seq}:${value}`) })
      )
      expect(Exit.isSuccess(exit)).toBe(true)
    }
    const commit = (await clients.status(leader.id))!.commitIndex
    cluster.spawn(lagging)
    let last: unknown
    await eventually("the lagging node catches up", 60_000, async () => {
      const s = await clients.status(lagging)
      last = s
      return s !== undefined && s.appliedIndex >= commit ? s : undefined
    }).catch((e: unknown) => {
      // Say why: the last status seen and what both nodes logged (the data dirs are removed).
      const tail = (id: number) => cluster!.log(id).split("\n").slice(-40).join("\n")
      throw new Error(
        `${String(e)}; commit ${commit}, last status ${JSON.stringify(last)}\n` +
          `--- node ${lagging}:\n${tail(lagging)}\n--- leader ${leader.id}:\n${tail(leader.id)}`
      )
    })
    const restored = /state machine restored from the snapshot at index (\d+)/.exec(cluster.log(lagging))
    expect(restored).not.toBeNull()
    expect(Number(restored![1])).toBeGreaterThan(100)
    const read = await (await clients.get(lagging)).run((rpc) =>
      rpc.Get({ key: bytes("k0"), consistency: "stale" })
    )
    expect(Exit.isSuccess(read) && read.value.entry !== null ? text(read.value.entry.value) : "").toBe(
      `600:${value}`
    )
  }, 120_000)

  it("an isolated leader makes no progress; the majority elects and commits; after heal all converge", async () => {
    const { cluster, clients, leader } = await start({ nodes: 3, proxied: true })
    const old = await clients.get(leader.id)
    const s1 = await openSession(old)
    cluster.isolate(leader.id, true)
    const rest = cluster.ids.filter((id) => id !== leader.id)
    const next = await eventually("a leader in the majority", 20_000, () => clients.leader(rest))
    expect(next.term).toBeGreaterThan(leader.term)
    // The minority side cannot commit: the write fails or never returns.
    const stuck = await old.run(
      (rpc) => rpc.Put({ session: s1, seq: 1, ack: 0, key: bytes("minority"), value: bytes("m") }),
      2000
    )
    expect(Exit.isFailure(stuck)).toBe(true)
    const majority = await clients.get(next.id)
    const s2 = await openSession(majority)
    const ok = await majority.run((rpc) =>
      rpc.Put({ session: s2, seq: 1, ack: 0, key: bytes("majority"), value: bytes("M") })
    )
    expect(Exit.isSuccess(ok)).toBe(true)

    cluster.isolate(leader.id, false)
    const commit = (await clients.status(next.id))!.commitIndex
    let seen = ""
    const healed = await eventually("the isolated node converges", 60_000, async () => {
      const s = await clients.status(leader.id)
      seen = `${JSON.stringify(s)} (leader commit ${commit})`
      return s !== undefined && s.role === "follower" && s.appliedIndex >= commit ? s : undefined
    }).catch((e) => {
      throw new Error(`${e}; last status of the isolated node: ${seen}`)
    })
    expect(healed.term).toBeGreaterThanOrEqual(next.term)
    const read = await (await clients.get(leader.id)).run((rpc) =>
      rpc.Get({ key: bytes("minority"), consistency: "stale" })
    )
    // The minority write was never acknowledged; whether it exists or not, the cluster agrees.
    expect(Exit.isSuccess(read)).toBe(true)
  }, 120_000)
})
