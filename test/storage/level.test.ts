/**
 * The LogStore contract against the disk layer with the LevelDB engine. Raw access goes through a
 * separate classic-level handle, as an operator or a bad disk would.
 */
import * as nodePath from "node:path"
import { ClassicLevel } from "classic-level"
import { Effect } from "effect"
import { entryKey, entryKeyIndex, metaKey } from "../../src/storage/codec.ts"
import { makeDiskLogStore } from "../../src/storage/disk.ts"
import { type Harness, logStoreContract } from "./contract.ts"
import { diskHarness } from "./fsHarness.ts"

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

const level: Harness<string> = {
  name: "LevelDB",
  ...diskHarness,
  open: (dataDir, identity) => makeDiskLogStore({ dataDir, ...identity, engine: "leveldb" }),
  putEntryRaw: (dataDir, index, value) => withRawDb(dataDir, (db) => db.put(entryKey(index), value)),
  delEntryRaw: (dataDir, index) => withRawDb(dataDir, (db) => db.del(entryKey(index))),
  putMetaRaw: (dataDir, name, value) => withRawDb(dataDir, (db) => db.put(metaKey(name), value)),
  entryIndices: (dataDir) =>
    withRawDb(dataDir, async (db) => {
      const keys = await db.keys({ gte: new Uint8Array([1]), lt: new Uint8Array([2]) }).all()
      return keys.map((k) => entryKeyIndex(k) ?? -1)
    })
}

logStoreContract(level)
