/**
 * The LogStore contract against the memory layer, plus what only the memory disk can simulate:
 * write faults such as a full disk.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Identity, MemoryDisk, makeMemoryLogStore } from "../../src/storage/index.ts"
import { entryKey, entryKeyIndex } from "../../src/storage/codec.ts"
import { type Harness, logStoreContract } from "./contract.ts"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

const memory: Harness<MemoryDisk> = {
  name: "memory",
  fresh: Effect.sync(() => new MemoryDisk("test")),
  unwritable: Effect.sync(() => {
    const disk = new MemoryDisk("blocked")
    disk.unwritable = "ENOTDIR"
    return disk
  }),
  open: (disk, identity) => makeMemoryLogStore(disk, identity),
  dataDir: (disk) => disk.location,
  putEntryRaw: (disk, index, value) => Effect.sync(() => void disk.kv!.entries.set(index, value)),
  delEntryRaw: (disk, index) => Effect.sync(() => void disk.kv!.entries.delete(index)),
  putMetaRaw: (disk, name, value) => Effect.sync(() => void disk.kv!.meta.set(name, value)),
  entryIndices: (disk) =>
    // Through the LevelDB key encoding, so both layers are checked the same way.
    Effect.sync(() =>
      [...disk.kv!.entries.keys()].map((i) => entryKeyIndex(entryKey(i))!).sort((a, b) => a - b)
    ),
  snapshotFiles: (disk) =>
    Effect.sync(() =>
      [...disk.files.keys()]
        .filter((p) => p.startsWith("snapshots/"))
        .map((p) => p.slice("snapshots/".length))
    ),
  truncateFile: (disk, path, size) =>
    Effect.sync(() => void disk.files.set(path, disk.files.get(path)!.slice(0, size))),
  removeLog: (disk) =>
    Effect.sync(() => {
      disk.kv = undefined
    }),
  fingerprint: (disk) =>
    Effect.sync(() =>
      JSON.stringify({
        files: [...disk.files].map(([p, b]) => [p, hex(b)]).sort(),
        dirs: [...disk.dirs].sort(),
        meta: [...(disk.kv?.meta ?? [])].map(([k, v]) => [k, hex(v)]).sort(),
        entries: [...(disk.kv?.entries ?? [])].map(([k, v]) => [k, hex(v)]).sort()
      })
    )
}

logStoreContract(memory)

const ID: Identity = { clusterId: "alpha", nodeId: 1 }
const entry = (term: number, s: string) => ({
  term,
  kind: "command" as const,
  data: new TextEncoder().encode(s)
})

describe("LogStore memory layer: write faults", () => {
  it.live("a full disk fails the write with ENOSPC 'disk full'; nothing of the group is kept", () =>
    Effect.gen(function* () {
      const disk = new MemoryDisk("full")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const s = yield* makeMemoryLogStore(disk, ID)
          yield* s.write([
            { _tag: "Persist", writeId: 1, hardState: undefined, log: { from: 1, entries: [entry(1, "a")] } }
          ])
          disk.failWrites = "ENOSPC"
          const e = yield* Effect.flip(
            s.write([
              {
                _tag: "Persist",
                writeId: 2,
                hardState: { term: 2, vote: 1 },
                log: { from: 2, entries: [entry(2, "b")] }
              }
            ])
          )
          assert.strictEqual(e._tag, "StorageIOError")
          assert.strictEqual(e.code, "ENOSPC")
          assert.include(e.message, "disk full")
          disk.failWrites = undefined
          // The failed group left no trace in the store's view of the log: index 2 is still next.
          yield* s.write([
            { _tag: "Persist", writeId: 3, hardState: undefined, log: { from: 2, entries: [entry(1, "c")] } }
          ])
        })
      )
      const r = yield* Effect.scoped(Effect.flatMap(makeMemoryLogStore(disk, ID), (s) => s.load))
      assert.deepStrictEqual(r.hardState, { term: 0, vote: 0 })
      assert.deepStrictEqual(
        r.entries.map((x) => new TextDecoder().decode(x.data)),
        ["a", "c"]
      )
    })
  )
})
