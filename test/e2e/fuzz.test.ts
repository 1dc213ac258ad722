/**
 * Hostile input at a live cluster (issue 4): random and mutated frames at a node's peer port and
 * garbage at its client port close those connections; every node keeps running and the cluster
 * still commits.
 *
 * Frames carry another cluster's id or no valid frame at all: Raft assumes peers that follow the
 * protocol, so a forged but valid message of this cluster is outside what any node can refuse.
 */
import { connect as tcpConnect } from "node:net"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { connect, type KvConnection } from "../../src/client/index.ts"
import { attack, attackBytes } from "../transport/attacks.ts"
import { eventually, ProcessCluster } from "./processes.ts"

/** Write `bytes` on a fresh connection, then wait until the node closes it or 2 s pass. */
const throwAt = (port: number, bytes: Uint8Array): Promise<void> =>
  new Promise((done) => {
    const socket = tcpConnect({ host: "127.0.0.1", port })
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      done()
    }
    const timer = setTimeout(finish, 2000)
    socket.on("error", finish).on("close", finish)
    socket.on("connect", () => socket.end(bytes))
  })

let cluster: ProcessCluster | undefined
let kv: KvConnection | undefined
afterAll(async () => {
  await kv?.close()
  await cluster?.stop()
})

describe("a live cluster under hostile input", () => {
  it("refuses random and mutated frames on peer and client ports, keeps running and still commits", async () => {
    cluster = await ProcessCluster.start({ nodes: 3 })
    const c = cluster
    kv = await connect({ endpoints: c.endpoints, timeoutMs: 5000 })
    const client = kv
    await eventually("a first write", 30_000, async () => (await client.put("before", "1")).version)

    const peerAttacks = fc.sample(attack("not-this-cluster"), { numRuns: 150, seed: 42 })
    const clientGarbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 4000 }), {
      numRuns: 100,
      seed: 7
    })
    const target = 1
    for (let k = 0; k < peerAttacks.length; k += 10) {
      await Promise.all(
        peerAttacks.slice(k, k + 10).map((a) => throwAt(c.peerPort.get(target)!, attackBytes(a)))
      )
    }
    for (let k = 0; k < clientGarbage.length; k += 10) {
      await Promise.all(clientGarbage.slice(k, k + 10).map((b) => throwAt(c.clientPort.get(target)!, b)))
    }

    // Every node process is still up, node 1 included, and the cluster commits and serves.
    for (const id of c.ids) expect(c.children.get(id)?.exitCode ?? null).toBeNull()
    const after = await client.put("after", "2")
    expect(after.version).toBe(1)
    const status = await client.nodeStatus(c.endpoint(target))
    expect(status.id).toBe(target)
    await eventually("node 1 applies the new write", 20_000, async () => {
      const s = await client.nodeStatus(c.endpoint(target))
      return s.appliedIndex >= status.commitIndex ? true : undefined
    })
    expect(c.log(target)).toMatch(/wrong-cluster|malformed|oversized|closing/)
  }, 180_000)
})
