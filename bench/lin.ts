/**
 * Linearizability checker benchmark: `npx node bench/lin.ts [--runs N]`
 *
 * Checks generated histories (random concurrent clients against a real register, see
 * test/lin/generate.ts; unique put values unless stated) and mutated copies that must be
 * rejected. Each case prints its outcome and the median wall and CPU time over the runs (CPU time
 * is steadier on a shared machine). Ends with one JSON line:
 * `{"bench":"lin","cases":[{"name":...,"ops":N,"status":"...","ms":X,"cpuMs":Y}, ...]}`.
 */
import { checkHistory } from "../test/lin/checker.ts"
import { generateHistory, type GenerateOptions, mulberry32 } from "../test/lin/generate.ts"
import type { HistoryRecord, Result } from "../test/lin/types.ts"

const runsArg = process.argv.indexOf("--runs")
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 3

interface Case {
  readonly name: string
  readonly history: ReadonlyArray<HistoryRecord>
  readonly expect: "linearizable" | "violation"
}

/** A completed get in the second half of the history, picked by seed. */
const laterGet = (h: ReadonlyArray<HistoryRecord>, seed: number): number => {
  const gets = h.flatMap((r, i) =>
    i > h.length / 2 && r.op._tag === "Get" && r.result?._tag === "Found" ? [i] : []
  )
  return gets[Math.floor(mulberry32(seed)() * gets.length)]!
}

const withResult = (h: ReadonlyArray<HistoryRecord>, i: number, result: Result): Array<HistoryRecord> => {
  const copy = h.slice()
  copy[i] = { ...h[i]!, result }
  return copy
}

/** One get returns a value nobody wrote. */
const neverWritten = (h: ReadonlyArray<HistoryRecord>): Array<HistoryRecord> =>
  withResult(h, laterGet(h, 1), { _tag: "Found", value: "never-written", version: 1 })

/** One get returns the state of a write to its key from well before it (`back` writes earlier). */
const staleRead = (h: ReadonlyArray<HistoryRecord>, back: number): Array<HistoryRecord> => {
  const g = laterGet(h, 2)
  let seen = 0
  for (let i = g - 1; i >= 0; i--) {
    const r = h[i]!
    if (r.key !== h[g]!.key || r.op._tag !== "Put" || r.result?._tag !== "Written") continue
    if (++seen === back)
      return withResult(h, g, { _tag: "Found", value: r.op.value, version: r.result.version })
  }
  throw new Error("no earlier write")
}

const gen = (o: Omit<GenerateOptions, "seed">) => generateHistory({ seed: 42, ...o })
const wide = gen({ clients: 20, keys: 100, ops: 10_000, timeoutRate: 0.01 })
const hot = gen({ clients: 20, keys: 1, ops: 10_000, timeoutRate: 0.01 })
const hard = gen({ clients: 50, keys: 1, ops: 400 })
const fewValues = gen({ clients: 20, keys: 1, ops: 1_000, timeoutRate: 0.01, values: 3 })

const cases: ReadonlyArray<Case> = [
  { name: "10k ops, 100 keys, 20 clients, 1% timeouts", history: wide, expect: "linearizable" },
  { name: "  same, one get reads a never-written value", history: neverWritten(wide), expect: "violation" },
  { name: "  same, one get reads a stale value", history: staleRead(wide, 3), expect: "violation" },
  { name: "10k ops, 1 key, 20 clients, 1% timeouts", history: hot, expect: "linearizable" },
  { name: "  same, one get reads a stale value", history: staleRead(hot, 30), expect: "violation" },
  {
    name: "400 ops, 1 key, 30 clients, 2% timeouts",
    history: gen({ clients: 30, keys: 1, ops: 400, timeoutRate: 0.02 }),
    expect: "linearizable"
  },
  { name: "400 ops, 1 key, 50 clients", history: hard, expect: "linearizable" },
  { name: "  same, one get reads a stale value", history: staleRead(hard, 5), expect: "violation" },
  { name: "1k ops, 1 key, 20 clients, 3 values, 1% timeouts", history: fewValues, expect: "linearizable" },
  { name: "  same, one get reads a stale value", history: staleRead(fewValues, 8), expect: "violation" }
]

const median = (xs: Array<number>): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const results = cases.map((c) => {
  const wall: Array<number> = []
  const cpu: Array<number> = []
  let status = ""
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now()
    const c0 = process.cpuUsage()
    status = checkHistory(c.history, { timeoutMs: 30_000 }).status
    const dc = process.cpuUsage(c0)
    wall.push(performance.now() - t)
    cpu.push((dc.user + dc.system) / 1000)
  }
  const ms = median(wall)
  const cpuMs = median(cpu)
  const flag = status === c.expect ? "" : `  (EXPECTED ${c.expect})`
  console.log(
    `${c.name.padEnd(52)} ${status.padEnd(12)} ${ms.toFixed(1).padStart(8)} ms  ${cpuMs.toFixed(1).padStart(8)} ms cpu${flag}`
  )
  return { name: c.name.trim(), ops: c.history.length, status, ms: round(ms), cpuMs: round(cpuMs) }
})

function round(x: number): number {
  return Math.round(x * 10) / 10
}

console.log(JSON.stringify({ bench: "lin", runs: RUNS, cases: results }))
