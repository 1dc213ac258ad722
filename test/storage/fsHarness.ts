/**
 * The parts of a LogStore contract harness shared by the on-disk engines (level.test.ts,
 * segments.test.ts): temp data dirs under os.tmpdir() and raw file access through node:fs, as an
 * operator or a bad disk would.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { Effect } from "effect"
import type { Harness } from "./contract.ts"

/** A temp dir, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(nodePath.join(os.tmpdir(), "raftkv-storage-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const fingerprint = async (root: string): Promise<string> => {
  const lines: Array<string> = []
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const path = nodePath.join(dir, name)
      const stat = await fs.stat(path, { bigint: true })
      if (stat.isDirectory()) {
        lines.push(`${path}/ ${stat.mtimeNs}`)
        await walk(path)
      } else {
        const hash = createHash("sha256")
          .update(await fs.readFile(path))
          .digest("hex")
        lines.push(`${path} ${stat.size} ${stat.mtimeNs} ${hash}`)
      }
    }
  }
  await walk(root)
  return lines.join("\n")
}

/** Everything of a disk harness but opening the store and raw access to its log store. */
export const diskHarness: Pick<
  Harness<string>,
  "fresh" | "unwritable" | "dataDir" | "snapshotFiles" | "truncateFile" | "removeLog" | "fingerprint"
> = {
  // A subdirectory that does not exist yet: the store must create it.
  fresh: Effect.map(tempDir, (dir) => nodePath.join(dir, "data")),
  unwritable: Effect.flatMap(tempDir, (dir) =>
    Effect.promise(async () => {
      await fs.writeFile(nodePath.join(dir, "a-file"), "not a directory")
      return nodePath.join(dir, "a-file", "data")
    })
  ),
  dataDir: (dataDir) => dataDir,
  snapshotFiles: (dataDir) => Effect.promise(() => fs.readdir(nodePath.join(dataDir, "snapshots"))),
  truncateFile: (dataDir, path, size) =>
    Effect.promise(() => fs.truncate(nodePath.join(dataDir, path), size)),
  removeLog: (dataDir) => Effect.promise(() => fs.rm(nodePath.join(dataDir, "log"), { recursive: true })),
  fingerprint: (dataDir) => Effect.promise(() => fingerprint(dataDir))
}
