/** What the client commands print and the status they exit with (pure rendering). */
import { describe, expect, it } from "vitest"
import {
  KeyTooLarge,
  NodeUnreachable,
  OutcomeUnknown,
  Timeout,
  VersionMismatch
} from "../../src/client/index.ts"
import {
  deleteOutcome,
  EXIT_OUTCOME_UNKNOWN,
  EXIT_VERSION_MISMATCH,
  failureOutcome,
  getOutcome,
  putOutcome,
  statusOutcome
} from "../../src/cli/client-commands.ts"

describe("client command outcomes", () => {
  it("prints the documented JSON for successes", () => {
    expect(putOutcome({ version: 4 }).json).toEqual({ version: 4 })
    const read = { appliedIndex: 5, commitIndex: 9, endpoint: "h:2" }
    const found = { ...read, entry: { value: new TextEncoder().encode("v"), version: 2 } }
    expect(getOutcome(found, false).json).toEqual({ value: "v", version: 2 })
    expect(getOutcome({ ...read, entry: null }, false)).toMatchObject({ exitCode: 0, json: null })
    expect(getOutcome(found, true).text).toMatch(/stale read from h:2: applied index 5, commit index 9/)
    expect(deleteOutcome({ deleted: false })).toMatchObject({ exitCode: 0, json: { deleted: false } })
  })

  it("exits 3 on VersionMismatch, naming the current version", () => {
    const o = failureOutcome(new VersionMismatch({ currentVersion: 7 }), true)
    expect(o.exitCode).toBe(EXIT_VERSION_MISMATCH)
    expect(o.json).toEqual({ error: "VersionMismatch", currentVersion: 7 })
    expect(o.error).toMatch(/current version is 7/)
  })

  it("exits 4 when a write's outcome is unknown, and says why a call timed out", () => {
    const lastRetry = {
      operation: "Put" as const,
      endpoint: "h:1",
      attempt: 3,
      error: "ConnectionLost",
      detail: "cannot connect (ECONNREFUSED)",
      next: "h:2",
      delayMs: 40
    }
    const timeout = failureOutcome(new Timeout({ afterMs: 500 }), true, lastRetry)
    expect(timeout.exitCode).toBe(EXIT_OUTCOME_UNKNOWN)
    expect(timeout.error).toMatch(/500 ms.*h:1: cannot connect.*may or may not have happened/)
    expect(failureOutcome(new Timeout({ afterMs: 500 }), false).error).not.toMatch(/write/)
    const unknown = failureOutcome(new OutcomeUnknown({ reason: "SessionExpired", session: 1, seq: 2 }), true)
    expect(unknown).toMatchObject({ exitCode: EXIT_OUTCOME_UNKNOWN, json: { error: "OutcomeUnknown" } })
    expect(failureOutcome(new KeyTooLarge({ size: 9000, limit: 4096 }), true)).toMatchObject({
      exitCode: 1,
      json: { error: "KeyTooLarge", size: 9000, limit: 4096 }
    })
  })

  it("renders status as one object per endpoint and fails only when no node answered", () => {
    const up = {
      endpoint: "h:1",
      status: { id: 1, role: "leader" as const, term: 3, leader: 1, commitIndex: 9, appliedIndex: 8 }
    }
    const down = {
      endpoint: "h:2",
      error: new NodeUnreachable({ endpoint: "h:2", reason: "cannot connect" })
    }
    const mixed = statusOutcome([up, down])
    expect(mixed.exitCode).toBe(0)
    expect(mixed.json).toEqual([
      { endpoint: "h:1", id: 1, role: "leader", term: 3, leader: 1, commitIndex: 9, appliedIndex: 8 },
      { endpoint: "h:2", error: "cannot connect" }
    ])
    expect(mixed.text.split("\n")).toHaveLength(3)
    expect(statusOutcome([down])).toMatchObject({ exitCode: 1, error: "no node answered" })
  })
})
