/**
 * The simulator's command line: `npm run sim -- --seeds N [--seed S] [--nodes K] [--verbose]`.
 * Prints each violation (seed, invariant, trace tail) and ends with one JSON line of totals.
 * Exits non-zero when any seed broke an invariant. See test/sim/README.md.
 */
import { parseSeedArgs } from "./cli.ts"
import { injections } from "./options.ts"
import { runSeed, emptyStats, type SimResult, type SimStats } from "./simulator.ts"

const usage = `usage: npm run sim -- [--seeds N] [--start S0] [--seed S] [--nodes 3|5|7] [--verbose]
       [--safety-ms MS] [--liveness-ms MS] [--inject ${injections.join("|")}] [--max-reports N] [--stop]`

const { seeds, replay, nodes, inject, maxReports, stop, base } = parseSeedArgs(usage, injections, [
  "safetyMs",
  "livenessMs"
])

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
    if (stop) {
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
