/**
 * `FileStore` over node:fs: the data dir's files, with the fsyncs that make creation and renames
 * durable (a renamed file is only durable once its directory is fsynced).
 */
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Effect } from "effect"
import type { FileReader, FileStore, FileWriter } from "./backend.ts"
import { DataDirUnwritable, errorCode, errorDetail, StorageIOError } from "./errors.ts"

const attempt = <A>(
  operation: string,
  path: string,
  run: () => Promise<A>
): Effect.Effect<A, StorageIOError> =>
  Effect.tryPromise({
    try: run,
    catch: (e) => new StorageIOError({ operation, path, code: errorCode(e), detail: errorDetail(e) })
  })

const isCode = (e: unknown, code: string): boolean => (e as { code?: unknown } | null)?.code === code

/** fsync a directory so the entries created or renamed in it survive a crash. */
const syncDir = async (dir: string): Promise<void> => {
  const handle = await fs.open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const writeAll = async (handle: fs.FileHandle, data: Uint8Array, position: number): Promise<void> => {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    done += bytesWritten
  }
}

const makeWriter = (handle: fs.FileHandle, path: string): FileWriter => {
  let position = 0
  let closed = false
  return {
    append: (data) =>
      attempt("write", path, async () => {
        await writeAll(handle, data, position)
        position += data.length
      }),
    sync: attempt("fsync", path, () => handle.sync()),
    close: Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return Effect.ignore(attempt("close", path, () => handle.close()))
    })
  }
}

const makeReader = (handle: fs.FileHandle, size: number, path: string): FileReader => {
  let closed = false
  return {
    size,
    read: (offset, length) =>
      attempt("read", path, async () => {
        const out = new Uint8Array(length)
        let done = 0
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done)
          if (bytesRead === 0) break
          done += bytesRead
        }
        return done === length ? out : out.subarray(0, done)
      }),
    close: Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return Effect.ignore(attempt("close", path, () => handle.close()))
    })
  }
}

/** The files of the data dir `root` (absolute or relative to the working directory). */
export const fsFileStore = (root: string): FileStore => {
  const abs = (p: string) => (p === "" ? root : nodePath.join(root, p))

  const ensureRoot = Effect.tryPromise({
    try: async () => {
      const stat = await fs
        .stat(root)
        .catch((e: unknown) => (isCode(e, "ENOENT") ? undefined : Promise.reject(e)))
      if (stat !== undefined) {
        if (!stat.isDirectory())
          throw Object.assign(new Error("exists and is not a directory"), { code: "ENOTDIR" })
        return
      }
      await fs.mkdir(root, { recursive: true })
      await syncDir(nodePath.dirname(nodePath.resolve(root)))
    },
    catch: (e) => new DataDirUnwritable({ dataDir: root, code: errorCode(e), detail: errorDetail(e) })
  })

  return {
    root,
    ensureRoot,
    ensureDir: (dir) =>
      attempt("mkdir", abs(dir), async () => {
        const created = await fs.mkdir(abs(dir), { recursive: true })
        if (created !== undefined) await syncDir(nodePath.dirname(abs(dir)))
      }),
    list: (dir) =>
      attempt("list", abs(dir), () =>
        fs.readdir(abs(dir)).catch((e: unknown) => (isCode(e, "ENOENT") ? [] : Promise.reject(e)))
      ),
    read: (path) =>
      attempt("read", abs(path), () =>
        fs
          .readFile(abs(path))
          .then((b): Uint8Array | undefined => b)
          .catch((e: unknown) => (isCode(e, "ENOENT") ? undefined : Promise.reject(e)))
      ),
    size: (path) =>
      attempt("stat", abs(path), () =>
        fs
          .stat(abs(path))
          .then((s): number | undefined => s.size)
          .catch((e: unknown) => (isCode(e, "ENOENT") ? undefined : Promise.reject(e)))
      ),
    writeAtomic: (path, data) =>
      attempt("write", abs(path), async () => {
        const tmp = `${abs(path)}.tmp`
        const handle = await fs.open(tmp, "w")
        try {
          await writeAll(handle, data, 0)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await fs.rename(tmp, abs(path))
        await syncDir(nodePath.dirname(abs(path)))
      }),
    create: (path) =>
      Effect.map(
        attempt("create", abs(path), () => fs.open(abs(path), "w")),
        (handle) => makeWriter(handle, abs(path))
      ),
    rename: (from, to) =>
      attempt("rename", `${abs(from)} -> ${abs(to)}`, async () => {
        await fs.rename(abs(from), abs(to))
        await syncDir(nodePath.dirname(abs(to)))
      }),
    remove: (path) => attempt("remove", abs(path), () => fs.rm(abs(path), { force: true })),
    open: (path) =>
      attempt("open", abs(path), async () => {
        const handle = await fs
          .open(abs(path), "r")
          .catch((e: unknown) => (isCode(e, "ENOENT") ? undefined : Promise.reject(e)))
        if (handle === undefined) return undefined
        try {
          const { size } = await handle.stat()
          return makeReader(handle, size, abs(path))
        } catch (e) {
          await handle.close()
          throw e
        }
      })
  }
}
