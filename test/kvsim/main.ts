/**
 * The KV simulation's command line:
 * `npx node test/kvsim/main.ts --seeds N [--start S0] [--seed S] [--nodes K] [--inject BUG] [--verbose]`.
 * Prints each failing seed (what broke, the checker's explanation, the replay command) and ends
 * with one JSON line of totals. Exits non-zero when any seed failed. See test/kvsim/README.md.
 */
import { parseArgs } from "node:util"
import { type KvInjection, type KvSimOptions, kvInjections } from "./options.ts"
import { describeFailure, type KvSeedResult, runKvSeed } from "./run.ts"

const usage = `usage: npx node test/kvsim/main.ts [--seeds N] [--start S0] [--seed S] [--nodes 3|5|7]
       [--safety-ms MS] [--inject ${kvInjections.join("|")}] [--max-reports N] [--stop] [--verbose]`

const { values } = parseArgs({
  options: {
    seeds: { type: "string" },
    start: { type: "string" },
    seed: { type: "string" },
    nodes: { type: "string" },
    "safety-ms": { type: "string" },
    inject: { type: "string", multiple: true },
    "max-reports": { type: "string" },
    stop: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false }
  }
})

const fail = (why: string): never => {
  process.stderr.write(`${why}\n${usage}\n`)
  process.exit(2)
}

const int = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined) return fallback
  const n = Number(v)
  return Number.isSafeInteger(n) && n >= 0 ? n : fail(`--${name} must be a non-negative integer`)
}

if (values.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const nodes = int(values.nodes, 0, "nodes")
if (![0, 3, 5, 7].includes(nodes)) fail("--nodes must be 3, 5 or 7")
const inject = (values.inject ?? []).map((v) =>
  (kvInjections as ReadonlyArray<string>).includes(v) ? (v as KvInjection) : fail(`unknown --inject ${v}`)
)
const replay = values.seed !== undefined
const seeds: number[] = []
if (replay) seeds.push(int(values.seed, 1, "seed"))
else {
  const count = int(values.seeds, 100, "seeds")
  const start = int(values.start, 1, "start")
  for (let k = 0; k < count; k++) seeds.push(start + k)
}
const maxReports = int(values["max-reports"], 5, "max-reports")
const verbose = values.verbose && replay

const base: Partial<KvSimOptions> = {
  nodes,
  inject,
  ...(values["safety-ms"] !== undefined ? { safetyMs: int(values["safety-ms"], 0, "safety-ms") } : {}),
  ...(verbose ? { onTrace: (line: string) => process.stdout.write(`${line}\n`) } : {})
}

const totals = {
  opsChecked: 0,
  unknownOps: 0,
  acknowledgedWrites: 0,
  retries: 0,
  sessionsOpened: 0,
  sessionExpired: 0,
  staleSequence: 0,
  redoneWrites: 0,
  kvSnapshots: 0,
  kvRestores: 0,
  kvSnapshotsUnderApply: 0,
  installSnapshots: 0,
  leadershipLost: 0,
  busy: 0,
  orphanedWaiters: 0,
  fullRestarts: 0,
  crashes: 0,
  partitions: 0,
  elections: 0,
  simSeconds: 0,
  checkSeconds: 0
}

const add = (r: KvSeedResult): void => {
  const { run } = r
  totals.opsChecked += r.opsChecked
  totals.unknownOps += r.unknownOps
  totals.acknowledgedWrites += run.history.ops.filter(
    (o) => o.status === "done" && (o.result?._tag === "Written" || o.result?._tag === "Deleted")
  ).length
  totals.retries += run.clientStats.retries
  totals.sessionsOpened += run.clientStats.sessionsOpened
  totals.sessionExpired += run.clientStats.sessionExpired
  totals.staleSequence += run.clientStats.staleSequence
  totals.redoneWrites += run.clientStats.redoneWrites
  totals.kvSnapshots += run.kvStats.kvSnapshots
  totals.kvRestores += run.kvStats.kvRestores
  totals.kvSnapshotsUnderApply += run.kvStats.kvSnapshotsUnderApply
  totals.installSnapshots += run.stats.installSnapshots
  totals.leadershipLost += run.kvStats.leadershipLost
  totals.busy += run.kvStats.busy
  totals.orphanedWaiters += run.kvStats.orphanedWaiters
  totals.fullRestarts += run.kvStats.fullRestarts
  totals.crashes += run.stats.crashes
  totals.partitions += run.stats.partitions
  totals.elections += run.stats.elections
  totals.simSeconds += r.simMs / 1000
  totals.checkSeconds += r.checkMs / 1000
}

let violations = 0
let inconclusive = 0
let ran = 0
const began = performance.now()
for (const seed of seeds) {
  const r = runKvSeed({ ...base, seed })
  ran++
  add(r)
  const f = r.failure
  if (f !== undefined) {
    if (f._tag === "Inconclusive") inconclusive++
    else violations++
    if (violations + inconclusive <= maxReports)
      process.stdout.write(`${describeFailure(r, { ...base, seed })}\n\n`)
    if (values.stop) break
  }
  if (replay) {
    const s = r.run.settings
    process.stdout.write(
      `seed ${seed}: ${s.nodes} nodes, ${s.clients} clients, ${s.keys} keys, trace hash ${r.run.traceHash.toString(16)}, settings ${JSON.stringify(s)}\n`
    )
  }
}
const seconds = (performance.now() - began) / 1000
const round = (x: number): number => Math.round(x * 100) / 100
process.stdout.write(
  `${JSON.stringify({
    seeds: ran,
    violations,
    inconclusive,
    seedsPerSecond: round(ran / seconds),
    seconds: round(seconds),
    ...totals,
    simSeconds: round(totals.simSeconds),
    checkSeconds: round(totals.checkSeconds)
  })}\n`
)
process.exitCode = violations + inconclusive > 0 ? 1 : 0
