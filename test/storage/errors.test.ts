/**
 * Error messages say what went wrong and where; LevelDB's text-only I/O errors are mapped back to
 * their errno codes so a full disk reads as "disk full".
 */
import { describe, expect, it } from "vitest"
import { DataDirMismatch, errorCode, StorageIOError } from "../../src/storage/errors.ts"

describe("storage errors", () => {
  it("maps LevelDB's I/O error text to the errno code", () => {
    const level = Object.assign(new Error("IO error: /d/log/000005.log: No space left on device"), {
      code: "LEVEL_IO_ERROR"
    })
    expect(errorCode(level)).toBe("ENOSPC")
    const locked = Object.assign(new Error("Database failed to open"), {
      code: "LEVEL_DATABASE_NOT_OPEN",
      cause: Object.assign(new Error("IO error: lock /d/log/LOCK: already held by process"), {
        code: "LEVEL_LOCKED"
      })
    })
    expect(errorCode(locked)).toBe("LEVEL_LOCKED")
    expect(errorCode(Object.assign(new Error("x"), { code: "EIO" }))).toBe("EIO")
    expect(errorCode("weird")).toBe("UNKNOWN")
  })

  it("says 'disk full' for ENOSPC and names the path", () => {
    const e = new StorageIOError({
      operation: "synced write",
      path: "/d/log",
      code: "ENOSPC",
      detail: "IO error"
    })
    expect(e.message).toBe("storage synced write failed on /d/log: disk full: IO error")
  })

  it("names both identities on a mismatch", () => {
    const e = new DataDirMismatch({
      dataDir: "/d",
      expectedClusterId: "a",
      expectedNodeId: 1,
      foundClusterId: "b",
      foundNodeId: 2
    })
    expect(e.message).toContain(`cluster "b" node 2`)
    expect(e.message).toContain(`cluster "a" node 1`)
  })
})
