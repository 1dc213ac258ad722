/**
 * The command line the simulators share: which seeds to run (`--seeds N [--start S0]`, or one
 * `--seed S` to replay), `--nodes`, `--inject`, `--max-reports`, `--stop`, `--verbose`, `--help`,
 * and optional overrides of phase lengths (`--safety-ms`, `--liveness-ms`). A bad value prints
 * why and the usage and exits with 2; `--help` prints the usage and exits with 0.
 */
import { parseArgs } from "node:util"
import type { RunOptions } from "./options.ts"

/** Phase lengths a simulator may let its command line override. */
export type PhaseOverride = "safetyMs" | "livenessMs"

const flagOf: Record<PhaseOverride, string> = { safetyMs: "safety-ms", livenessMs: "liveness-ms" }

/** The parsed command line. */
export interface SeedArgs<I extends string> {
  /** The seeds to run, in order. */
  readonly seeds: ReadonlyArray<number>
  /** One `--seed` given: a replay (it alone may be verbose). */
  readonly replay: boolean
  /** `--nodes` (0 when not given: each seed picks). */
  readonly nodes: number
  readonly inject: ReadonlyArray<I>
  /** How many failing seeds to describe in full. */
  readonly maxReports: number
  /** Stop at the first failing seed. */
  readonly stop: boolean
  /** Options for every run: nodes, inject, the overrides given and, when verbose, a trace printer. */
  readonly base: Partial<RunOptions<I>>
}

/** Parse `process.argv` for a simulator taking `injections` and the phase `overrides`. */
export const parseSeedArgs = <I extends string>(
  usage: string,
  injections: ReadonlyArray<I>,
  overrides: ReadonlyArray<PhaseOverride>
): SeedArgs<I> => {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string" },
      start: { type: "string" },
      seed: { type: "string" },
      nodes: { type: "string" },
      ...Object.fromEntries(overrides.map((o) => [flagOf[o], { type: "string" as const }])),
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
  const int = (v: unknown, fallback: number, name: string): number => {
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
    (injections as ReadonlyArray<string>).includes(v) ? (v as I) : fail(`unknown --inject ${v}`)
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

  const given: Partial<Record<PhaseOverride, number>> = {}
  for (const o of overrides) {
    const v = (values as Readonly<Record<string, unknown>>)[flagOf[o]]
    if (v !== undefined) given[o] = int(v, 0, flagOf[o])
  }
  const base: Partial<RunOptions<I>> = {
    nodes,
    inject,
    ...given,
    ...(verbose ? { onTrace: (line: string) => process.stdout.write(`${line}\n`) } : {})
  }
  return { seeds, replay, nodes, inject, maxReports, stop: values.stop, base }
}
