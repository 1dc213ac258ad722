/**
 * Progress of a run on stderr: a live bar with ops/s on a terminal, plain lines otherwise (one
 * every few seconds, so a log stays readable).
 */
import cliProgress from "cli-progress"

export interface ProgressUpdate {
  readonly phase: "warmup" | "measure"
  /** Seconds of the phase done so far. */
  readonly done: number
  readonly total: number
  /** Operations per second over the last second. */
  readonly opsPerSec: number
  readonly p99Ms: number
  readonly errors: number
}

export interface Progress {
  readonly update: (u: ProgressUpdate) => void
  readonly stop: () => void
}

export const noProgress: Progress = { update: () => {}, stop: () => {} }

const PLAIN_EVERY_S = 5

/** Latency is not measured during the warm-up. */
const p99Text = (u: ProgressUpdate) => (u.phase === "warmup" ? "-" : u.p99Ms.toFixed(2))

/** A progress display for the run named `label` on `stream` (process.stderr by default). */
export const makeProgress = (label: string, stream: NodeJS.WriteStream = process.stderr): Progress => {
  if (stream.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} {phase} |{bar}| {value}/{total}s | {ops} ops/s | p99 {p99} ms | errors {errors}`,
        hideCursor: true,
        clearOnComplete: false
      },
      cliProgress.Presets.shades_classic
    )
    let phase: ProgressUpdate["phase"] | undefined
    return {
      update: (u) => {
        const payload = {
          phase: u.phase,
          ops: Math.round(u.opsPerSec),
          p99: u.p99Ms.toFixed(2),
          errors: u.errors
        }
        if (phase !== u.phase) {
          if (phase !== undefined) bar.stop()
          phase = u.phase
          bar.start(u.total, u.done, payload)
        } else bar.update(u.done, payload)
      },
      stop: () => {
        if (phase !== undefined) bar.stop()
        phase = undefined
      }
    }
  }
  return {
    update: (u) => {
      const last = u.done === u.total
      if (u.phase === "warmup" && !last) return
      if (u.phase === "measure" && !last && u.done % PLAIN_EVERY_S !== 0) return
      stream.write(
        `${label} ${u.phase} ${u.done}/${u.total}s ${Math.round(u.opsPerSec)} ops/s p99 ${p99Text(u)} ms errors ${u.errors}\n`
      )
    },
    stop: () => {}
  }
}
