/**
 * CPU time and memory of processes and of the machine, from Linux's /proc (undefined elsewhere
 * or when the process is gone).
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

let clockTicks: number | undefined

/** Clock ticks per second of /proc's CPU times (USER_HZ, almost always 100). */
const ticksPerSecond = (): number => {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

export interface ProcessSample {
  /** User + system CPU seconds the process has used. */
  readonly cpuSeconds: number
  readonly rssBytes: number
  /** Seconds its threads were ready to run but waited for a core (undefined without schedstats). */
  readonly runQueueSeconds: number | undefined
  /** CPU seconds of V8's helper threads (see {@link v8WorkerCpuSeconds}). */
  readonly v8WorkerCpuSeconds: number | undefined
}

/**
 * The text of `/proc/<pid>/task/<tid>/<file>` for each thread of process `pid` (undefined for a
 * thread gone since the listing); undefined when the process is not there.
 */
const threadFiles = (pid: number, file: string, proc: string): Array<string | undefined> | undefined => {
  try {
    return readdirSync(`${proc}/${pid}/task`).map((tid) => read(`${proc}/${pid}/task/${tid}/${file}`))
  } catch {
    return undefined
  }
}

/**
 * Seconds the threads of process `pid` have spent runnable but waiting for a core: the second
 * field of each `/proc/<pid>/task/<tid>/schedstat` (nanoseconds). On a busy machine a node that
 * wakes (a message arrived, an fsync returned) may wait this long before it runs again.
 * `proc` is where procfs is mounted (tests point it at a fake one).
 */
export const runQueueSeconds = (pid: number, proc = "/proc"): number | undefined => {
  const texts = threadFiles(pid, "schedstat", proc)
  if (texts === undefined) return undefined
  let ns = 0
  let seen = 0
  for (const text of texts) {
    const wait = Number(text?.split(" ")[1])
    if (!Number.isFinite(wait)) continue
    ns += wait
    seen++
  }
  return seen === 0 ? undefined : ns / 1e9
}

/** User + system CPU ticks in the text of a `stat` file (fields 14 and 15), undefined if unreadable. */
const statTicks = (stat: string): { readonly name: string; readonly ticks: number } | undefined => {
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
  const close = stat.lastIndexOf(")")
  const fields = stat.slice(close + 2).split(" ")
  const ticks = Number(fields[11]) + Number(fields[12])
  if (close < 0 || !Number.isFinite(ticks)) return undefined
  return { name: stat.slice(stat.indexOf("(") + 1, close), ticks }
}

/** The name V8 gives its helper threads: optimizing compilers and parallel/concurrent GC. */
const V8_WORKER = "V8Worker"

/**
 * CPU seconds the V8 helper threads of process `pid` have used: the threads named `V8Worker`
 * compile hot functions (Maglev, TurboFan) and help the garbage collector. A Node process spends
 * this on top of its main thread, most of it in its first tens of seconds, while the JIT warms up.
 * `proc` is where procfs is mounted (tests point it at a fake one).
 */
export const v8WorkerCpuSeconds = (pid: number, proc = "/proc"): number | undefined => {
  const texts = threadFiles(pid, "stat", proc)
  if (texts === undefined) return undefined
  let ticks = 0
  for (const text of texts) {
    const stat = text === undefined ? undefined : statTicks(text)
    if (stat?.name.startsWith(V8_WORKER)) ticks += stat.ticks
  }
  return ticks / ticksPerSecond()
}

/** CPU seconds and resident memory of process `pid`. */
export const sampleProcess = (pid: number): ProcessSample | undefined => {
  const stat = read(`/proc/${pid}/stat`)
  const status = read(`/proc/${pid}/status`)
  if (stat === undefined || status === undefined) return undefined
  const cpu = statTicks(stat)
  const rss = /VmRSS:\s+(\d+)\s+kB/.exec(status)
  if (cpu === undefined) return undefined
  return {
    cpuSeconds: cpu.ticks / ticksPerSecond(),
    rssBytes: rss === null ? 0 : Number(rss[1]) * 1024,
    runQueueSeconds: runQueueSeconds(pid),
    v8WorkerCpuSeconds: v8WorkerCpuSeconds(pid)
  }
}

export interface MachineSample {
  /** Busy and total CPU time of all cores since boot, in ticks. */
  readonly busyTicks: number
  readonly totalTicks: number
  /** 1-minute load average. */
  readonly load1: number
}

/** The machine's CPU counters and load average. */
export const sampleMachine = (): MachineSample | undefined => {
  const stat = read("/proc/stat")
  const loadavg = read("/proc/loadavg")
  if (stat === undefined) return undefined
  const cpu = stat.split("\n").find((l) => l.startsWith("cpu "))
  if (cpu === undefined) return undefined
  const t = cpu.trim().split(/\s+/).slice(1).map(Number)
  const total = t.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = (t[3] ?? 0) + (t[4] ?? 0)
  return { busyTicks: total - idle, totalTicks: total, load1: Number(loadavg?.split(" ")[0] ?? Number.NaN) }
}

/** Percent of all cores busy between two samples. */
export const busyPercent = (a: MachineSample, b: MachineSample): number => {
  const total = b.totalTicks - a.totalTicks
  return total <= 0 ? 0 : (100 * (b.busyTicks - a.busyTicks)) / total
}
