/**
 * One seed end to end: simulate, then check the recorded history (linearizability, and no
 * acknowledged write lost on the final reads).
 */
import { checkHistory } from "../lin/checker.ts"
import type { CheckResult } from "../lin/types.ts"
import { checkFinalReads } from "./history.ts"
import { defaultKvOptions, type KvSimOptions, settingsFor } from "./options.ts"
import { type KvRunResult, simulate } from "./simulation.ts"

/** Why a seed failed. */
export type KvFailure =
  /** A simulator invariant, a KV state machine check, or liveness. */
  | { readonly _tag: "Invariant"; readonly invariant: string; readonly detail: string; readonly time: number }
  | { readonly _tag: "NotLinearizable"; readonly key: string; readonly explanation: string }
  | { readonly _tag: "LostWrite"; readonly detail: string }
  /** The checker ran out of its step budget: neither a pass nor a violation. */
  | { readonly _tag: "Inconclusive"; readonly explanation: string }

export interface KvSeedResult {
  readonly run: KvRunResult
  readonly failure: KvFailure | undefined
  /** Ops in the checked history, and how many of them have an unknown outcome. */
  readonly opsChecked: number
  readonly unknownOps: number
  /** Ms spent simulating / checking. */
  readonly simMs: number
  readonly checkMs: number
}

/** Run one seed (options not given take their defaults) and check its history. */
export const runKvSeed = (options: Partial<KvSimOptions> & { readonly seed: number }): KvSeedResult => {
  const opts: KvSimOptions = { ...defaultKvOptions, ...options }
  const began = performance.now()
  const run = simulate(opts, settingsFor(opts))
  const simMs = performance.now() - began
  const records = run.history.records()
  const unknownOps = records.filter((r) => r.result === undefined && r.op._tag !== "Get").length
  const base = { run, opsChecked: records.length, unknownOps, simMs }
  const v = run.violation
  if (v !== undefined) {
    const failure: KvFailure = { _tag: "Invariant", invariant: v.invariant, detail: v.detail, time: v.time }
    return { ...base, failure, checkMs: 0 }
  }
  const checking = performance.now()
  // A step budget (not a wall-clock one) keeps every run reproducible.
  const lin: CheckResult = checkHistory(records, { maxSteps: opts.checkSteps, timeoutMs: 1e9 })
  let failure: KvFailure | undefined
  if (lin.status === "violation")
    failure = { _tag: "NotLinearizable", key: lin.key, explanation: lin.explanation }
  else if (lin.status !== "linearizable") failure = { _tag: "Inconclusive", explanation: lin.explanation }
  else {
    const lost = checkFinalReads(run.history)
    if (lost !== undefined) failure = { _tag: "LostWrite", detail: lost }
  }
  return { ...base, failure, checkMs: performance.now() - checking }
}

/** The command that replays a seed. */
export const replayCommand = (opts: Partial<KvSimOptions> & { readonly seed: number }): string => {
  const flags = [`--seed ${opts.seed}`]
  if (opts.nodes !== undefined && opts.nodes > 0) flags.push(`--nodes ${opts.nodes}`)
  for (const i of opts.inject ?? []) flags.push(`--inject ${i}`)
  return `npx node test/kvsim/main.ts ${flags.join(" ")} --verbose`
}

/** A failing seed's report: what broke, how to replay it, and the trace tail. */
export const describeFailure = (
  r: KvSeedResult,
  opts: Partial<KvSimOptions> & { readonly seed: number }
): string => {
  const f = r.failure
  if (f === undefined) return `seed ${r.run.seed} passed`
  const s = r.run.settings
  const head = `seed ${r.run.seed} (${s.nodes} nodes, ${s.clients} clients, ${s.keys} keys)`
  const what =
    f._tag === "Invariant"
      ? [`${head}: ${f.invariant} at ${f.time.toFixed(3)} ms`, `  ${f.detail}`]
      : f._tag === "NotLinearizable"
        ? [`${head}: history not linearizable (key ${f.key})`, f.explanation]
        : f._tag === "LostWrite"
          ? [`${head}: acknowledged write lost`, `  ${f.detail}`]
          : [`${head}: linearizability check inconclusive`, `  ${f.explanation}`]
  const tail = f._tag === "Invariant" ? ["  trace tail:", ...r.run.tail.map((l) => `    ${l}`)] : []
  return [...what, `  replay: ${replayCommand(opts)}`, ...tail].join("\n")
}
