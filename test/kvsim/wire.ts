/**
 * What simulated clients and nodes exchange: the requests and answers of the client protocol
 * (src/kv/protocol.ts), as plain data. Keys and values are strings here; nodes convert them to
 * bytes for the real state machine.
 */
import type { NodeId } from "../../src/core/index.ts"

export type Request =
  | { readonly _tag: "Get"; readonly key: string }
  | ({ readonly _tag: "Put"; readonly value: string } & WriteFields)
  | ({ readonly _tag: "Delete" } & WriteFields)
  | { readonly _tag: "OpenSession" }

export interface WriteFields {
  readonly session: number
  readonly seq: number
  readonly ack: number
  readonly key: string
  readonly expectedVersion: number | undefined
}

/** One request on its way to a node (or waiting there for its outcome). */
export interface Envelope {
  readonly client: number
  /** Identifies the client's attempt; an answer to an older attempt is ignored. */
  readonly attempt: number
  readonly node: NodeId
  /** The node's incarnation when the client sent it (-1: the node was down, nothing connects).
   * A request arriving at another incarnation finds its connection gone. */
  readonly inc: number
  readonly request: Request
}

/** A node's answer (or the client's own view of a failed connection). */
export type Answer =
  | {
      readonly _tag: "Value"
      readonly entry: { readonly value: string; readonly version: number } | undefined
    }
  | { readonly _tag: "Written"; readonly version: number }
  | { readonly _tag: "Deleted"; readonly deleted: boolean }
  | { readonly _tag: "SessionOpened"; readonly session: number }
  | { readonly _tag: "VersionMismatch"; readonly currentVersion: number }
  | { readonly _tag: "SessionExpired" }
  | { readonly _tag: "StaleSequence" }
  // Retryable (src/kv/protocol.ts, retry guide):
  | { readonly _tag: "NotLeader"; readonly leaderHint: string | undefined }
  | { readonly _tag: "ReadNotConfirmed"; readonly leaderHint: string | undefined }
  | { readonly _tag: "LeadershipLost" }
  | { readonly _tag: "Busy" }
  /** The connection failed: refused (`maybeSent` false) or lost with the request on it. */
  | { readonly _tag: "Unreachable"; readonly maybeSent: boolean }

/** A node's client address in the simulation: its id. */
export const endpointOf = (id: NodeId): string => String(id)
export const nodeOf = (endpoint: string): NodeId => Number(endpoint)
