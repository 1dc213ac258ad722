/**
 * The KV simulation's command line:
 * `npx node test/kvsim/main.ts --seeds N [--start S0] [--seed S] [--nodes K] [--inject BUG] [--verbose]`.
 * Prints each failing seed (what broke, the checker's explanation, the replay command) and ends
 * with one JSON line of totals. Exits non-zero when any seed failed. See test/kvsim/README.md.
 */
import { parseSeedArgs } from "../sim/cli.ts"
import { kvInjections } from "./options.ts"
import { describeFailure, type KvSeedResult, runKvSeed } from "./run.ts"

const usage = `usage: npx node test/kvsim/main.ts [--seeds N] [--start S0] [--seed S] [--nodes 3|5|7]
       [--safety-ms MS] [--inject ${kvInjections.join("|")}] [--max-reports N] [--stop] [--verbose]`

const { seeds, replay, maxReports, stop, base } = parseSeedArgs(usage, kvInjections, ["safetyMs"])

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
    if (stop) break
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
