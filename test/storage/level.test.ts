/**
 * The LogStore contract against the LevelDB layer, in temp dirs under os.tmpdir(). Raw access
 * goes through a separate classic-level handle and node:fs, as an operator or a bad disk would.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { ClassicLevel } from "classic-level"
import { Effect } from "effect"
import { entryKey, entryKeyIndex, metaKey } from "../../src/storage/codec.ts"
import { makeLevelLogStore } from "../../src/storage/level.ts"
import { type Harness, logStoreContract } from "./contract.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(nodePath.join(os.tmpdir(), "raftkv-storage-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** Run `f` on a raw classic-level handle on the data dir's log store. */
const withRawDb = <A>(dataDir: string, f: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<A>) =>
  Effect.promise(async () => {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(nodePath.join(dataDir, "log"), {
      keyEncoding: "view",
      valueEncoding: "view",
      createIfMissing: false
    })
    await db.open()
    try {
      return await f(db)
    } finally {
      await db.close()
    }
  })

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

const level: Harness<string> = {
  name: "LevelDB",
  // A subdirectory that does not exist yet: the store must create it.
  fresh: Effect.map(tempDir, (dir) => nodePath.join(dir, "data")),
  unwritable: Effect.flatMap(tempDir, (dir) =>
    Effect.promise(async () => {
      await fs.writeFile(nodePath.join(dir, "a-file"), "not a directory")
      return nodePath.join(dir, "a-file", "data")
    })
  ),
  open: (dataDir, identity) => makeLevelLogStore({ dataDir, ...identity }),
  dataDir: (dataDir) => dataDir,
  putEntryRaw: (dataDir, index, value) => withRawDb(dataDir, (db) => db.put(entryKey(index), value)),
  delEntryRaw: (dataDir, index) => withRawDb(dataDir, (db) => db.del(entryKey(index))),
  putMetaRaw: (dataDir, name, value) => withRawDb(dataDir, (db) => db.put(metaKey(name), value)),
  entryIndices: (dataDir) =>
    withRawDb(dataDir, async (db) => {
      const keys = await db.keys({ gte: new Uint8Array([1]), lt: new Uint8Array([2]) }).all()
      return keys.map((k) => entryKeyIndex(k) ?? -1)
    }),
  snapshotFiles: (dataDir) => Effect.promise(() => fs.readdir(nodePath.join(dataDir, "snapshots"))),
  truncateFile: (dataDir, path, size) =>
    Effect.promise(() => fs.truncate(nodePath.join(dataDir, path), size)),
  removeLog: (dataDir) => Effect.promise(() => fs.rm(nodePath.join(dataDir, "log"), { recursive: true })),
  fingerprint: (dataDir) => Effect.promise(() => fingerprint(dataDir))
}

logStoreContract(level)
