/**
 * The LogStore contract against the disk layer with the segment engine (the default). Raw access
 * opens the segment store itself, outside the Raft storage rules, as a second program would.
 */
import * as nodePath from "node:path"
import { Effect } from "effect"
import type { MetaName } from "../../src/storage/codec.ts"
import { makeDiskLogStore } from "../../src/storage/disk.ts"
import type { KvStore } from "../../src/storage/backend.ts"
import { openSegmentKv } from "../../src/storage/segmentKv.ts"
import { type Harness, logStoreContract } from "./contract.ts"
import { diskHarness } from "./fsHarness.ts"

/** Run `f` on the data dir's segment store opened directly. */
const withRaw = <A>(dataDir: string, f: (kv: KvStore) => Effect.Effect<A, unknown>) =>
  Effect.orDie(Effect.scoped(Effect.flatMap(openSegmentKv(dataDir, nodePath.join(dataDir, "log")), f)))

const rawWrite = (dataDir: string, add: (b: ReturnType<KvStore["batch"]>) => void) =>
  withRaw(dataDir, (kv) => {
    const b = kv.batch()
    add(b)
    return b.write(true)
  })

const segments: Harness<string> = {
  name: "segments",
  ...diskHarness,
  open: (dataDir, identity) => makeDiskLogStore({ dataDir, ...identity }),
  putEntryRaw: (dataDir, index, value) => rawWrite(dataDir, (b) => b.putEntry(index, value)),
  delEntryRaw: (dataDir, index) => rawWrite(dataDir, (b) => b.delEntry(index)),
  putMetaRaw: (dataDir, name: MetaName, value) => rawWrite(dataDir, (b) => b.putMeta(name, value)),
  entryIndices: (dataDir) =>
    withRaw(dataDir, (kv) => Effect.map(kv.readEntries(0), (es) => es.map((e) => e.index)))
}

logStoreContract(segments)
