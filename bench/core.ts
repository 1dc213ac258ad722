/**
 * Core benchmark (issue 2): entries committed per second through the pure `step` of a 3-node
 * cluster held in memory. No I/O: every write is reported durable as soon as it is issued, and
 * messages are delivered from one FIFO queue. Measures proposal batches of 1 and of 64 entries
 * (one Propose event carrying 64 data items), at log lengths of 1k and 1M entries: the nodes
 * restart with `initial` from a pre-filled log, and periodic snapshots keep the log within 1,024
 * entries of that length while the run appends, so each case really runs at its length.
 *
 * Time is the process's CPU time (see `cpuMs`). The cases run round-robin; each figure is the
 * median of several runs. Ends with one JSON line: `{"batch1":X,"batch64":Y,"batch64At1M":Z}`
 * (entries/s).
 *
 * Usage: `npm run bench:core [-- --runs N --seconds S --case batch64At1M]`; `--case` runs one case
 * (e.g. to profile it with `npx node --cpu-prof bench/core.ts --case batch64At1M`).
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import {
  defaultConfig,
  type Entry,
  type Event,
  initial,
  type NodeId,
  type RaftState,
  step
} from "../src/core/index.ts"

const MEMBERS: ReadonlyArray<NodeId> = [1, 2, 3]
/** Every entry carries the same payload: the client's bytes are not the core's cost. */
const PAYLOAD = new Uint8Array(64)
/** How far past its nominal length the log may grow before the nodes snapshot. */
const SLACK = 1024

interface Queued {
  readonly to: NodeId
  readonly event: Event
}

/** Three nodes and the queue of events in flight between them. */
class Cluster {
  readonly nodes = new Map<NodeId, RaftState>()
  private readonly queue: Queued[] = []
  private head = 0
  now = 0

  constructor(prefill: number) {
    const entries: Entry[] = []
    for (let i = 0; i < prefill; i++) entries.push({ term: 1, kind: "command", data: PAYLOAD })
    for (const id of MEMBERS) {
      const config = defaultConfig(id, MEMBERS)
      const r = initial(config, { hardState: { term: 1, vote: 0 }, snapshot: undefined, entries }, 0, 0)
      this.nodes.set(id, r.state)
    }
  }

  /** Step one node and route its commands: writes are durable at once, sends are queued. */
  step(id: NodeId, event: Event): void {
    const { state, commands } = step(this.nodes.get(id)!, event)
    this.nodes.set(id, state)
    for (const c of commands) {
      if (c._tag === "Persist") {
        this.queue.push({
          to: id,
          event: { _tag: "Persisted", writeId: c.writeId, now: this.now, random: 0 }
        })
      } else if (c._tag === "Send") {
        this.queue.push({
          to: c.to,
          event: { _tag: "Receive", from: id, message: c.message, now: this.now, random: 0 }
        })
      }
    }
  }

  /** Deliver queued events until none is left. */
  drain(): void {
    while (this.head < this.queue.length) {
      const q = this.queue[this.head++]!
      this.step(q.to, q.event)
    }
    this.queue.length = 0
    this.head = 0
  }

  /** Node 1 times out (PreVote, then a real election) and wins; its no-op commits everything. */
  elect(): void {
    const deadline = this.nodes.get(1)!.electionDeadline
    this.now = deadline
    this.step(1, { _tag: "Tick", now: deadline, random: 0 })
    this.drain()
    const s = this.nodes.get(1)!
    if (s.role !== "leader" || s.commitIndex !== s.log.prevIndex + s.log.length) {
      throw new Error(`election failed: role ${s.role}, commit ${s.commitIndex}`)
    }
  }

  commitIndex(): number {
    return this.nodes.get(1)!.commitIndex
  }

  /** Keep the log near `length`, as a runtime's periodic snapshots would: once the leader holds
   * SLACK entries more, every node snapshots at what it applied, keeping at least `length`. */
  compact(length: number): void {
    if (this.nodes.get(1)!.log.length < length + SLACK) return
    for (const id of MEMBERS) {
      const s = this.nodes.get(id)!
      const index = Math.min(s.appliedIndex, s.log.prevIndex + s.log.length - length)
      if (index > s.log.prevIndex) {
        this.step(id, { _tag: "SnapshotTaken", index, size: 0, now: this.now, random: 0 })
      }
    }
  }
}

/** A full garbage collection, through V8's `gc` exposed at run time (no command-line flag). */
const collectGarbage: () => void = (() => {
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
})()

/** CPU time of this process (every thread, so garbage collection counts) in ms. The machines this
 * runs on are shared: CPU time measures the core's cost without the noise of other processes; on
 * an idle machine it equals wall-clock time. */
const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** Propose batches of `batch` entries to the leader for `seconds` of CPU time; returns entries
 * committed (at the leader) per second. Each batch is proposed, then the queue drains: append,
 * acknowledgements, durability reports, commit. */
const measure = (prefill: number, batch: number, seconds: number): number => {
  const cluster = new Cluster(prefill)
  cluster.elect()
  const data: Uint8Array[] = []
  for (let i = 0; i < batch; i++) data.push(PAYLOAD)
  let id = 0
  const run = (budgetMs: number): { entries: number; ms: number } => {
    const start = cpuMs()
    const from = cluster.commitIndex()
    let elapsed = 0
    while (elapsed < budgetMs) {
      // Read the clock every 64 batches so that it stays out of the profile.
      for (let k = 0; k < 64; k++) {
        cluster.step(1, { _tag: "Propose", id: ++id, data, now: cluster.now, random: 0 })
        cluster.drain()
        cluster.compact(prefill)
      }
      elapsed = cpuMs() - start
    }
    return { entries: cluster.commitIndex() - from, ms: elapsed }
  }
  run(200) // warm-up (JIT)
  collectGarbage() // so that the set-up's garbage (a restart from the pre-filled log) is not billed
  const r = run(seconds * 1000)
  return (r.entries / r.ms) * 1000
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = xs.slice().sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const numberArg = (name: string, fallback: number): number => {
  const v = Number(arg(name))
  return Number.isFinite(v) && v > 0 ? v : fallback
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US")

const main = (): void => {
  const runs = numberArg("runs", 5)
  const seconds = numberArg("seconds", 1)
  const only = arg("case")
  const cases = [
    { key: "batch1", prefill: 1_000, batch: 1 },
    { key: "batch64", prefill: 1_000, batch: 64 },
    { key: "batch1At1M", prefill: 1_000_000, batch: 1 },
    { key: "batch64At1M", prefill: 1_000_000, batch: 64 }
  ].filter((c) => only === undefined || c.key === only)
  // Round-robin over the cases, so that load changes on a shared machine hit every case alike.
  const figures = cases.map(() => [] as number[])
  for (let r = 0; r < runs; r++) {
    cases.forEach((c, k) => {
      figures[k]!.push(measure(c.prefill, c.batch, seconds))
    })
  }
  const results: Record<string, number> = {}
  cases.forEach((c, k) => {
    const m = median(figures[k]!)
    results[c.key] = Math.round(m)
    console.log(
      `${c.key.padEnd(12)} log ${fmt(c.prefill).padStart(9)}, batch ${String(c.batch).padStart(2)}: ` +
        `${fmt(m).padStart(10)} entries/s (runs: ${figures[k]!.map(fmt).join(", ")})`
    )
  })
  if (results.batch64 !== undefined && results.batch64At1M !== undefined) {
    console.log(
      `batch64 at 1M entries / at 1k: ${((results.batch64At1M / results.batch64) * 100).toFixed(1)}%`
    )
  }
  console.log(
    JSON.stringify({ batch1: results.batch1, batch64: results.batch64, batch64At1M: results.batch64At1M })
  )
}

main()
