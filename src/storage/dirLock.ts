/**
 * An exclusive lock on a directory for one process: a lock file holding the owner's pid, created
 * atomically (link(2) fails when it exists). Node has no flock, so a lock left by a process that died is recognised by its pid no
 * longer running and taken over. Locks held by this process are tracked in memory too, so a second
 * open from the same process is refused like one from another process.
 */
import * as fs from "node:fs"

const heldHere = new Set<string>()

/** Why the lock could not be taken (the caller turns this into its typed error). */
export class DirLocked extends Error {
  override readonly name = "DirLocked"
  readonly code = "DIR_LOCKED"
}

const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as { code?: string }).code === "EPERM"
  }
}

/** Take the lock at `path` (throws {@link DirLocked} or an fs error); returns its release. */
export const lockDir = (path: string): (() => void) => {
  if (heldHere.has(path)) throw new DirLocked(`${path} is held by this process`)
  for (let attempt = 0; ; attempt++) {
    try {
      // Written aside, then linked into place (which fails if the lock exists): a lock file is
      // never seen without its pid.
      const aside = `${path}.${process.pid}.tmp`
      fs.writeFileSync(aside, `${process.pid}\n`)
      try {
        fs.linkSync(aside, path)
      } finally {
        fs.rmSync(aside, { force: true })
      }
      heldHere.add(path)
      return () => {
        heldHere.delete(path)
        try {
          fs.unlinkSync(path)
        } catch {
          // Already gone: nothing to release.
        }
      }
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST" || attempt > 0) throw e
      const owner = Number.parseInt(fs.readFileSync(path, "utf8"), 10)
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && running(owner)) {
        throw new DirLocked(`${path} is held by process ${owner}`)
      }
      // A stale lock (its process is gone, or it is ours from before a restart): take it over.
      fs.unlinkSync(path)
    }
  }
}
