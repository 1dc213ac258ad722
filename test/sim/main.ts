/**
 * The simulator's command line: `npm run sim -- --seeds N [--seed S] [--nodes K] [--verbose]`.
 * Prints each violation (seed, invariant, trace tail) and ends with one JSON line of totals.
 * Exits non-zero when any seed broke an invariant. See test/sim/README.md.
 */
import { parseArgs } from "node:util"
import { type Injection, injections, type SimOptions } from "./options.ts"
import { runSeed, emptyStats, type SimResult, type SimStats } from "./simulator.ts"

const usage = `usage: npm run sim -- [--seeds N] [--start S0] [--seed S] [--nodes 3|5|7] [--verbose]
       [--safety-ms MS] [--liveness-ms MS] [--inject ${injections.join("|")}] [--max-reports N] [--stop]`

const { values } = parseArgs({
  options: {
    seeds: { type: "string" },
    start: { type: "string" },
    seed: { type: "string" },
    nodes: { type: "string" },
    verbose: { type: "boolean", default: false },
    "safety-ms": { type: "string" },
    "liveness-ms": { type: "string" },
    inject: { type: "string", multiple: true },
    "max-reports": { type: "string" },
    stop: { type: "boolean", default: false },
    help: { type: "boolean", default: false }
  }
})

const int = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative integer\n${usage}\n`)
    process.exit(2)
  }
  return n
}

if (values.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const nodes = int(values.nodes, 0, "nodes")
if (nodes !== 0 && nodes !== 3 && nodes !== 5 && nodes !== 7) {
  process.stderr.write(`--nodes must be 3, 5 or 7\n${usage}\n`)
  process.exit(2)
}
const inject = (values.inject ?? []).map((v) => {
  if (!(injections as ReadonlyArray<string>).includes(v)) {
    process.stderr.write(`unknown --inject ${v}\n${usage}\n`)
    process.exit(2)
  }
  return v as Injection
})
const replay = values.seed !== undefined
const seeds = replay ? [int(values.seed, 1, "seed")] : []
if (!replay) {
  const count = int(values.seeds, 100, "seeds")
  const start = int(values.start, 1, "start")
  for (let k = 0; k < count; k++) seeds.push(start + k)
}
const maxReports = int(values["max-reports"], 5, "max-reports")
const verbose = values.verbose && replay

const base: Partial<SimOptions> = {
  nodes,
  inject,
  ...(values["safety-ms"] !== undefined ? { safetyMs: int(values["safety-ms"], 0, "safety-ms") } : {}),
  ...(values["liveness-ms"] !== undefined
    ? { livenessMs: int(values["liveness-ms"], 0, "liveness-ms") }
    : {}),
  ...(verbose ? { onTrace: (line: string) => process.stdout.write(`${line}\n`) } : {})
}

const report = (r: SimResult): void => {
  const v = r.violation!
  process.stdout.write(
    [
      `VIOLATION seed ${r.seed} (${r.nodes} nodes) at ${v.time.toFixed(3)} ms: ${v.invariant}`,
      `  ${v.detail}`,
      `  replay: npm run sim -- --seed ${r.seed}${nodes ? ` --nodes ${nodes}` : ""}${inject.map((i) => ` --inject ${i}`).join("")} --verbose`,
      "  trace tail:",
      ...r.tail.map((l) => `    ${l}`),
      ""
    ].join("\n")
  )
}

const totals: SimStats = emptyStats()
let violations = 0
let ran = seeds.length
const began = performance.now()
for (const seed of seeds) {
  const r = runSeed({ ...base, seed })
  for (const k of Object.keys(totals) as Array<keyof SimStats>) totals[k] += r.stats[k]
  if (r.violation !== undefined) {
    violations++
    if (violations <= maxReports) report(r)
    if (values.stop) {
      ran = seeds.indexOf(seed) + 1
      break
    }
  }
  if (replay) {
    process.stdout.write(`seed ${seed}: ${r.nodes} nodes, trace hash ${r.traceHash.toString(16)}\n`)
  }
}
const seconds = (performance.now() - began) / 1000
process.stdout.write(
  `${JSON.stringify({
    seeds: ran,
    violations,
    seedsPerSecond: Math.round((ran / seconds) * 100) / 100,
    seconds: Math.round(seconds * 100) / 100,
    ...totals
  })}\n`
)
process.exitCode = violations > 0 ? 1 : 0
