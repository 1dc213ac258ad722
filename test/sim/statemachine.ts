import type { Entry } from "../../src/core/index.ts"
import { finish, mix, mixBytes } from "./hash.ts"

/**
 * The simulated application: it keeps only a running hash of every entry it applied, which is
 * enough to compare whole histories in O(1) (two nodes with the same hash at an index applied the
 * same entries up to it).
 */
export interface MachineState {
  /** Last applied index. */
  readonly applied: number
  /** Term of the entry at `applied` (needed for the snapshot's metadata). */
  readonly term: number
  /** Running hash of (index, term, kind, data) of every entry applied so far. */
  readonly hash: number
}

export const emptyMachine: MachineState = { applied: 0, term: 0, hash: 0 }

/** The running hash after applying `entry` at `index` on top of `hash`. */
export const applyHash = (hash: number, index: number, entry: Entry): number => {
  let h = mix(hash, index)
  h = mix(h, entry.term)
  h = mix(h, entry.kind === "noop" ? 1 : 2)
  return finish(mixBytes(h, entry.data))
}

const MAGIC = 0x52534e50 // "RSNP"
/** Header: magic, index, term, hash, size (5 x u32). */
export const SNAPSHOT_HEADER_BYTES = 20

/** A padding byte: a function of the position and the state, so a misplaced, missing or foreign
 * chunk is detected on restore. */
const padByte = (state: MachineState, k: number): number =>
  (state.hash + Math.imul(k, 131) + state.applied) & 0xff

/** Serialize a state machine state into a snapshot of exactly `size` bytes (size >= header). */
export const serializeSnapshot = (state: MachineState, size: number): Uint8Array => {
  const data = new Uint8Array(Math.max(size, SNAPSHOT_HEADER_BYTES))
  const view = new DataView(data.buffer)
  view.setUint32(0, MAGIC)
  view.setUint32(4, state.applied)
  view.setUint32(8, state.term)
  view.setUint32(12, state.hash >>> 0)
  view.setUint32(16, data.length)
  for (let k = SNAPSHOT_HEADER_BYTES; k < data.length; k++) data[k] = padByte(state, k)
  return data
}

/** Parse and fully validate snapshot data; a description of the defect when it is corrupt. */
export const parseSnapshot = (data: Uint8Array): MachineState | string => {
  if (data.length < SNAPSHOT_HEADER_BYTES) return `snapshot data too short (${data.length} bytes)`
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  if (view.getUint32(0) !== MAGIC) return "snapshot data has a bad magic number"
  const state: MachineState = {
    applied: view.getUint32(4),
    term: view.getUint32(8),
    hash: view.getUint32(12)
  }
  if (view.getUint32(16) !== data.length) return `snapshot size field ${view.getUint32(16)} != ${data.length}`
  for (let k = SNAPSHOT_HEADER_BYTES; k < data.length; k++) {
    if (data[k] !== padByte(state, k)) return `snapshot data corrupt at byte ${k}`
  }
  return state
}
