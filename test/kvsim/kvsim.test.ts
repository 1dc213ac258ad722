import { describe, expect, it } from "vitest"
import { History } from "./history.ts"
import { checkFinalReads } from "./history.ts"
import type { KvInjection } from "./options.ts"
import { describeFailure, type KvSeedResult, runKvSeed } from "./run.ts"

/** Run seeds `from ..` and return the first failure, if any, with the totals of what ran. */
const runSeeds = (from: number, count: number, nodes = 0, inject: ReadonlyArray<KvInjection> = []) => {
  const totals = {
    seeds: 0,
    opsChecked: 0,
    unknownOps: 0,
    installSnapshots: 0,
    kvRestores: 0,
    kvSnapshotsUnderApply: 0,
    sessionExpired: 0,
    leadershipLost: 0,
    fullRestarts: 0,
    crashes: 0
  }
  for (let seed = from; seed < from + count; seed++) {
    const r = runKvSeed({ seed, nodes, inject })
    totals.seeds++
    totals.opsChecked += r.opsChecked
    totals.unknownOps += r.unknownOps
    totals.installSnapshots += r.run.stats.installSnapshots
    totals.kvRestores += r.run.kvStats.kvRestores
    totals.kvSnapshotsUnderApply += r.run.kvStats.kvSnapshotsUnderApply
    totals.sessionExpired += r.run.clientStats.sessionExpired
    totals.leadershipLost += r.run.kvStats.leadershipLost
    totals.fullRestarts += r.run.kvStats.fullRestarts
    totals.crashes += r.run.stats.crashes
    if (r.failure !== undefined) return { failure: r, totals }
  }
  return { failure: undefined as KvSeedResult | undefined, totals }
}

const report = (r: KvSeedResult | undefined, nodes = 0, inject: ReadonlyArray<KvInjection> = []): string =>
  r === undefined ? "no violation" : describeFailure(r, { seed: r.run.seed, nodes, inject })

describe("KV simulation harness", () => {
  it("replays a seed exactly: same core trace, same history", () => {
    const a = runKvSeed({ seed: 4242 })
    const b = runKvSeed({ seed: 4242 })
    expect(b.run.traceHash).toBe(a.run.traceHash)
    expect(b.run.history.records()).toEqual(a.run.history.records())
    expect(a.opsChecked).toBeGreaterThan(100)
    expect(runKvSeed({ seed: 4243 }).run.traceHash).not.toBe(a.run.traceHash)
  })

  const injected = (inject: KvInjection) => {
    const { failure } = runSeeds(1, 10, 0, [inject])
    return failure
  }

  it("catches reads served from local state without ReadIndex (injected bug)", () => {
    const f = injected("stale-reads")
    expect(f?.failure?._tag).toBe("NotLinearizable")
    expect(report(f, 0, ["stale-reads"])).toMatch(
      /replay: npx node test\/kvsim\/main.ts --seed \d+ --inject stale-reads/
    )
  })

  it("catches a state machine that drops acknowledged puts (injected bug)", () => {
    expect(["NotLinearizable", "LostWrite"]).toContain(injected("lose-write")?.failure?._tag)
  })

  it("catches a client that retries writes under a fresh seq (no exactly-once; injected bug)", () => {
    expect(["NotLinearizable", "LostWrite"]).toContain(injected("new-seq-on-retry")?.failure?._tag)
  })
})

describe("no acknowledged write lost: the final-read check", () => {
  /** A history of `[key, op, call, ret (undefined: unknown), succeeded]`, then the final read of k. */
  const history = (
    ops: ReadonlyArray<
      readonly [
        string,
        { _tag: "Put"; value: string } | { _tag: "Delete" },
        number,
        number | undefined,
        boolean
      ]
    >,
    final: { _tag: "Found"; value: string; version: number } | { _tag: "Absent" }
  ): History => {
    const h = new History()
    for (const [key, op, call, ret, ok] of ops) {
      const r = h.begin(1, key, op, call)
      if (ret === undefined) r.status = "unknown"
      else {
        r.status = "done"
        r.ret = ret
        r.result = !ok
          ? { _tag: "VersionMismatch", currentVersion: 1 }
          : op._tag === "Put"
            ? { _tag: "Written", version: 1 }
            : { _tag: "Deleted", deleted: true }
      }
    }
    const f = h.begin(0, "k", { _tag: "Get" }, 100, true)
    f.status = "done"
    f.ret = 101
    f.result = final
    return h
  }
  const put = (value: string) => ({ _tag: "Put", value }) as const
  const del = { _tag: "Delete" } as const

  it("accepts the last acknowledged put", () => {
    expect(
      checkFinalReads(
        history(
          [
            ["k", put("a"), 1, 2, true],
            ["k", put("b"), 3, 4, true]
          ],
          { _tag: "Found", value: "b", version: 2 }
        )
      )
    ).toBeUndefined()
  })

  it("accepts a put concurrent with the last acknowledged one, or a later unknown one", () => {
    expect(
      checkFinalReads(
        history(
          [
            ["k", put("a"), 1, 5, true],
            ["k", put("b"), 3, 4, true]
          ],
          { _tag: "Found", value: "a", version: 2 }
        )
      )
    ).toBeUndefined()
    expect(
      checkFinalReads(
        history(
          [
            ["k", put("a"), 1, 2, true],
            ["k", put("b"), 3, undefined, true]
          ],
          { _tag: "Found", value: "b", version: 2 }
        )
      )
    ).toBeUndefined()
    expect(
      checkFinalReads(
        history(
          [
            ["k", put("a"), 1, 2, true],
            ["k", del, 3, undefined, true]
          ],
          { _tag: "Absent" }
        )
      )
    ).toBeUndefined()
  })

  it("flags an acknowledged put overwritten by an older value", () => {
    expect(
      checkFinalReads(
        history(
          [
            ["k", put("a"), 1, 2, true],
            ["k", put("b"), 3, 4, true]
          ],
          { _tag: "Found", value: "a", version: 1 }
        )
      )
    ).toMatch(/acknowledged write lost/)
  })

  it("flags an acknowledged put that vanished", () => {
    expect(
      checkFinalReads(
        history(
          [
            ["k", del, 1, 2, true],
            ["k", put("b"), 3, 4, true]
          ],
          { _tag: "Absent" }
        )
      )
    ).toMatch(/acknowledged write lost/)
  })

  it("flags a value no effective put wrote (a VersionMismatch put's value)", () => {
    expect(
      checkFinalReads(history([["k", put("a"), 1, 2, false]], { _tag: "Found", value: "a", version: 1 }))
    ).toMatch(/which no put/)
  })
})

describe("the KV service under the simulator", () => {
  const blocks = [
    { nodes: 0, from: 1, count: 400 },
    { nodes: 7, from: 700_001, count: 40 }
  ]
  for (const { nodes, from, count } of blocks) {
    it(`every history is linearizable, no acknowledged write lost: ${count} seeds${nodes > 0 ? ` of ${nodes} nodes` : ""}`, () => {
      const { failure, totals } = runSeeds(from, count, nodes)
      expect(report(failure, nodes)).toBe("no violation")
      // The runs exercised what they are meant to.
      expect(totals.opsChecked).toBeGreaterThan(count * 300)
      expect(totals.unknownOps).toBeGreaterThan(0)
      expect(totals.crashes).toBeGreaterThan(count)
      expect(totals.installSnapshots).toBeGreaterThan(0)
      expect(totals.kvRestores).toBeGreaterThan(0)
      expect(totals.kvSnapshotsUnderApply).toBeGreaterThan(0)
      expect(totals.leadershipLost).toBeGreaterThan(0)
      expect(totals.fullRestarts).toBeGreaterThan(0)
      if (nodes === 0) expect(totals.sessionExpired).toBeGreaterThan(0)
    }, 120_000)
  }
})
