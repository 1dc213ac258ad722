import { describe, expect, it } from "vitest"
import { Invariant } from "./invariants.ts"
import type { Injection } from "./options.ts"
import { runSeed, type SimResult } from "./simulator.ts"

/** A failing seed's report: enough to replay and start debugging. */
const describeFailure = (r: SimResult): string =>
  r.violation === undefined
    ? `seed ${r.seed} passed`
    : [
        `seed ${r.seed} (${r.nodes} nodes): ${r.violation.invariant} at ${r.violation.time.toFixed(3)} ms`,
        r.violation.detail,
        `replay: npm run sim -- --seed ${r.seed} --nodes ${r.nodes} --verbose`,
        ...r.tail.slice(-15)
      ].join("\n")

/** Run seeds `from ..` and return the first failure, if any. */
const firstFailure = (from: number, count: number, nodes: number): SimResult | undefined => {
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed({ seed, nodes })
    if (r.violation !== undefined) return r
  }
  return undefined
}

describe("simulator harness", () => {
  it("replays a seed exactly: same trace hash and counts", () => {
    const a = runSeed({ seed: 12345, nodes: 5 })
    const b = runSeed({ seed: 12345, nodes: 5 })
    expect(b.traceHash).toBe(a.traceHash)
    expect(b.stats).toEqual(a.stats)
    expect(b.tail).toEqual(a.tail)
    expect(a.stats.steps).toBeGreaterThan(1000)
    expect(runSeed({ seed: 12346, nodes: 5 }).traceHash).not.toBe(a.traceHash)
  })

  /** The first violation within `count` seeds when the runtime has bug `inject`. */
  const injectedFailure = (inject: Injection, count: number): SimResult | undefined => {
    for (let seed = 1; seed <= count; seed++) {
      const r = runSeed({ seed, nodes: 3, inject: [inject] })
      if (r.violation !== undefined) return r
    }
    return undefined
  }

  it("reports a liveness failure when the bound is too short", () => {
    const r = runSeed({ seed: 3, nodes: 3, livenessMs: 10 })
    expect(r.violation?.invariant).toBe(Invariant.liveness)
    expect(r.violation?.detail).toMatch(/within 10 ms of healing/)
  })

  it("catches messages that leave before their write is durable (injected runtime bug)", () => {
    expect(injectedFailure("send-before-durable", 20)?.violation?.invariant).toBe(Invariant.durability)
  })

  it("catches a durable vote lost in a crash (injected runtime bug)", () => {
    expect([Invariant.durability, Invariant.electionSafety]).toContain(
      injectedFailure("forget-vote", 200)?.violation?.invariant
    )
  })
})

describe("the Raft core under the simulator", () => {
  const blocks = [
    { nodes: 3, from: 1, count: 600 },
    { nodes: 5, from: 100_001, count: 300 },
    { nodes: 7, from: 200_001, count: 100 }
  ]
  for (const { nodes, from, count } of blocks) {
    it(`keeps every invariant over ${count} seeds of ${nodes} nodes`, () => {
      const failure = firstFailure(from, count, nodes)
      expect(failure === undefined ? "no violation" : describeFailure(failure)).toBe("no violation")
    }, 120_000)
  }

  it("exercises snapshots, snapshot transfers, reads and leadership transfers", () => {
    let snapshots = 0
    let installs = 0
    let reads = 0
    let transfers = 0
    for (let seed = 300_001; seed <= 300_060; seed++) {
      const r = runSeed({ seed })
      snapshots += r.stats.snapshots
      installs += r.stats.installSnapshots
      reads += r.stats.reads
      transfers += r.stats.transfers
    }
    expect(snapshots).toBeGreaterThan(0)
    expect(installs).toBeGreaterThan(0)
    expect(reads).toBeGreaterThan(0)
    expect(transfers).toBeGreaterThan(0)
  }, 60_000)
})
