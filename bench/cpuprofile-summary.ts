/**
 * Where a process spent its CPU, from a V8 `.cpuprofile` (written by `node --cpu-prof`; for the
 * bench's node processes pass `--node-exec-args="--cpu-prof --cpu-prof-dir=DIR"`).
 *
 * Prints self time by area (package or source file) and by function, and inclusive time of the
 * project's functions, as % of the sampled time and, given `--ops N`, in microseconds per
 * operation. Idle time is left out; so are samples outside the load window: the window runs from
 * the first to the last sample whose stack holds `--marker` (default `resolveProposal`, which
 * runs only while clients are being answered).
 *
 * Usage: node bench/cpuprofile-summary.ts FILE [--ops N] [--top N] [--marker NAME] [--filter TEXT]
 *   [--exclude fn,fn]
 *
 * The V8 profiler samples wall time of the main thread: a call that wakes another process or
 * thread (a socket write on loopback, queuing work for the thread pool) may show time during
 * which this thread was preempted, not running. `perf record -g -p PID` (with node
 * `--perf-basic-prof`) gives on-CPU time to compare with.
 */
import { readFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const file = args[0]
if (file === undefined || file.startsWith("--")) {
  process.stderr.write(
    "usage: node bench/cpuprofile-summary.ts FILE [--ops N] [--top N] [--marker NAME] [--filter TEXT]\n"
  )
  process.exit(2)
}
const ops = Number(option("ops", "0"))
const top = Number(option("top", "25"))
const marker = option("marker", "resolveProposal")
const filter = option("filter", " src/")
/** Leaf functions to leave out besides (idle): e.g. writeBuffer, whose wall time is mostly the
 * thread being preempted by the process it woke (check with `perf record`). */
const exclude = new Set([
  "(idle)",
  ...option("exclude", "")
    .split(",")
    .filter((x) => x !== "")
])

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const frame = (id: number) => byId.get(id)!.callFrame

const stackHas = (id: number, name: string): boolean => {
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x))
    if (frame(x).functionName === name) return true
  return false
}
let lo = profile.samples.findIndex((id) => stackHas(id, marker))
let hi = profile.samples.length - 1
while (hi > 0 && !stackHas(profile.samples[hi]!, marker)) hi--
if (lo < 0) {
  lo = 0
  hi = profile.samples.length - 1
}

const short = (url: string) =>
  url.replace(/^file:\/\/.*?\/(src|bench|test|node_modules)\//, "$1/").replace("node_modules/", "")
const key = (f: CallFrame) => `${f.functionName || "(anonymous)"} ${short(f.url)}:${f.lineNumber + 1}`
const area = (f: CallFrame): string => {
  if (f.url === "") return f.functionName.startsWith("(") ? f.functionName : "(native)"
  if (f.url.startsWith("node:")) return `node:${f.url.slice(5).split("/")[0]}`
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)(?:\/(?:dist|src)\/(?:esm\/)?([^/]+))?/.exec(f.url)
  if (m !== null) return m[1]! + (m[2] === undefined ? "" : `/${m[2]}`)
  return short(f.url)
}

const selfByArea = new Map<string, number>()
const selfByFunction = new Map<string, number>()
const inclusive = new Map<string, number>()
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v)
let busy = 0
let window = 0
for (let i = lo; i <= hi; i++) {
  const id = profile.samples[i]!
  const dt = profile.timeDeltas[i] ?? 0
  window += dt
  const f = frame(id)
  if (exclude.has(f.functionName)) continue
  busy += dt
  add(selfByArea, area(f), dt)
  add(selfByFunction, key(f), dt)
  const seen = new Set<string>()
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
    const k = key(frame(x))
    if (!seen.has(k)) {
      seen.add(k)
      add(inclusive, k, dt)
    }
  }
}

const show = (us: number) =>
  `${((100 * us) / busy).toFixed(1).padStart(5)}%${ops > 0 ? ` ${(us / ops).toFixed(1).padStart(7)} us/op` : ""}`
const print = (title: string, m: Map<string, number>, keep: (k: string) => boolean = () => true) => {
  process.stdout.write(`--- ${title}\n`)
  for (const [k, us] of [...m]
    .filter(([k]) => keep(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    process.stdout.write(`${show(us)}  ${k}\n`)
  }
}
process.stdout.write(
  `window ${(window / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / window).toFixed(0)}%)${ops > 0 ? `, ${(busy / ops) | 0} us/op over ${ops} ops` : ""}\n`
)
print("self time by area", selfByArea)
print("self time by function", selfByFunction)
print(`inclusive time (functions matching "${filter}")`, inclusive, (k) => k.includes(filter))
