/**
 * The client port's wire format: how the calls of {@link KvApi} travel between a client and a node.
 *
 * Every frame is a 4-byte big-endian length, then the body. Integers are varints and byte
 * strings are length-prefixed (the peer wire's primitives, `transport/wire.ts`).
 *
 * - Request body: method code (u8), request id (varint), the method's payload.
 * - Response body: outcome (u8: 0 answer, 1 error, 2 refused), the request's id, then the answer,
 *   the error (its code, then its fields) or the reason the node refused to read the request.
 *
 * A client numbers its requests; answers come back in any order, matched by id. Decoders check
 * every field (types, bounds, shortest varints, no trailing bytes) and, on the client, that an
 * error is one its method can fail with: a frame either decodes into a well-typed value or is
 * refused with a reason, and nothing else reaches the code above.
 */
import { Result } from "effect"
import { LENGTH_PREFIX_BYTES } from "../transport/codec.ts"
import { Reader, WireError, Writer } from "../transport/wire.ts"
import {
  Busy,
  type CloseSessionRequest,
  type DeleteRequest,
  type GetRequest,
  type GetResponse,
  KeyTooLarge,
  LeadershipLost,
  type Method,
  NodeStatus,
  NotLeader,
  type PutRequest,
  ReadNotConfirmed,
  SessionExpired,
  StaleSequence,
  ValueTooLarge,
  VersionMismatch
} from "./protocol.ts"

/** The calls on the wire: the API's, and `Ping` (answered at once, empty: a client's keep-alive). */
export type WireMethod = Method | "Ping"

/**
 * Largest frame body a node accepts on its client port (a 1 MiB value and a 4 KiB key fit with
 * room to spare). A longer one cannot be answered (its id is never read): the connection closes.
 */
export const MAX_CLIENT_FRAME_BYTES = 4 * 1024 * 1024

/** A request as it travels: which call, its id and its payload. */
export type Request =
  | { readonly method: "Ping"; readonly id: number; readonly payload: undefined }
  | { readonly method: "Get"; readonly id: number; readonly payload: GetRequest }
  | { readonly method: "Put"; readonly id: number; readonly payload: PutRequest }
  | { readonly method: "Delete"; readonly id: number; readonly payload: DeleteRequest }
  | { readonly method: "OpenSession"; readonly id: number; readonly payload: undefined }
  | { readonly method: "CloseSession"; readonly id: number; readonly payload: CloseSessionRequest }
  | { readonly method: "Status"; readonly id: number; readonly payload: undefined }

/** Every error a node answers with. */
export type WireErrorValue =
  | NotLeader
  | Busy
  | LeadershipLost
  | ReadNotConfirmed
  | VersionMismatch
  | SessionExpired
  | StaleSequence
  | KeyTooLarge
  | ValueTooLarge

/**
 * A response as it travels. `refused`: the node could not read or answer the request (its
 * reason). `stray`: an answer to an id nobody waits for any more (its caller gave up); skipped.
 */
export type Response =
  | { readonly outcome: "stray"; readonly id: number }
  | { readonly outcome: "answer"; readonly id: number; readonly value: unknown }
  | { readonly outcome: "error"; readonly id: number; readonly error: WireErrorValue }
  | { readonly outcome: "refused"; readonly id: number; readonly reason: string }

/** A frame that cannot be read, and why. */
export interface Malformed {
  readonly _tag: "Malformed"
  readonly detail: string
  /** The request's id, when it was read before the fault (the node can answer "refused"). */
  readonly id?: number
}

/** Every call on the wire; a call's code is its position here plus 1 (never reorder). */
export const WIRE_METHODS: ReadonlyArray<WireMethod> = [
  "Get",
  "Put",
  "Delete",
  "OpenSession",
  "CloseSession",
  "Status",
  "Ping"
]
const METHOD_CODES = new Map<WireMethod, number>(WIRE_METHODS.map((method, i) => [method, i + 1]))

const ERROR_TAGS = [
  "NotLeader",
  "Busy",
  "LeadershipLost",
  "ReadNotConfirmed",
  "VersionMismatch",
  "SessionExpired",
  "StaleSequence",
  "KeyTooLarge",
  "ValueTooLarge"
] as const
type ErrorTag = (typeof ERROR_TAGS)[number]
const ERROR_CODES = new Map<string, number>(ERROR_TAGS.map((tag, i) => [tag, i + 1]))

/** The errors each call may fail with (anything else from a node is a protocol violation). */
const ALLOWED_ERRORS: Readonly<Record<WireMethod, ReadonlySet<ErrorTag>>> = {
  Ping: new Set(),
  Get: new Set(["NotLeader", "ReadNotConfirmed", "Busy", "KeyTooLarge"]),
  Put: new Set([
    "NotLeader",
    "Busy",
    "LeadershipLost",
    "VersionMismatch",
    "SessionExpired",
    "StaleSequence",
    "KeyTooLarge",
    "ValueTooLarge"
  ]),
  Delete: new Set([
    "NotLeader",
    "Busy",
    "LeadershipLost",
    "VersionMismatch",
    "SessionExpired",
    "StaleSequence",
    "KeyTooLarge"
  ]),
  OpenSession: new Set(["NotLeader", "Busy", "LeadershipLost"]),
  CloseSession: new Set(["NotLeader", "Busy", "LeadershipLost"]),
  Status: new Set()
}

const READ_REASONS = ["NotLeader", "LeadershipLost", "NoLeader"] as const
const ROLES = NodeStatus.fields.role.literals

const OUTCOME_ANSWER = 0
const OUTCOME_ERROR = 1
const OUTCOME_REFUSED = 2

const utf8 = new TextEncoder()
// ignoreBOM: a leading U+FEFF is part of the string, not a marker to drop.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

// One writer for the process: encoding is synchronous, and `finish` copies the frame out.
const writer = new Writer(4096)

/**
 * Runs `body` on the shared writer after a length prefix; returns the whole frame. A value of
 * the wrong shape (a missing field read as undefined...) fails as a {@link WireError} too.
 */
const frame = (body: (w: Writer) => void): Uint8Array => {
  writer.reset()
  writer.skip(LENGTH_PREFIX_BYTES)
  try {
    body(writer)
  } catch (e) {
    throw e instanceof WireError ? e : new WireError(`not encodable: ${String(e)}`)
  }
  writer.patchU32(0, writer.length - LENGTH_PREFIX_BYTES)
  return writer.finish()
}

const writeString = (w: Writer, s: string, what: string) => w.bytes(utf8.encode(s), what)

const readString = (r: Reader, what: string): string => {
  try {
    return strictUtf8.decode(r.view(r.uvarint(what), what))
  } catch (e) {
    if (e instanceof WireError) throw e
    throw new WireError(`${what} is not UTF-8`)
  }
}

const writeOptionalString = (w: Writer, s: string | undefined, what: string) => {
  w.bool(s !== undefined, what)
  if (s !== undefined) writeString(w, s, what)
}

const readOptionalString = (r: Reader, what: string): string | undefined =>
  r.bool(what) ? readString(r, what) : undefined

/** Options whose value may be absent (exactOptionalPropertyTypes: absent, not undefined). */
const hintField = (hint: string | undefined) => (hint === undefined ? {} : { leaderHint: hint })

const oneOf = <T extends string>(values: ReadonlyArray<T>, code: number, what: string): T => {
  const v = values[code]
  if (v === undefined) throw new WireError(`${what} code ${code} is unknown`)
  return v
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

const writeWrite = (w: Writer, p: DeleteRequest) => {
  w.uvarint(p.session, "session")
  w.uvarint(p.seq, "seq")
  w.uvarint(p.ack, "ack")
  w.bytes(p.key, "key")
  w.bool(p.expectedVersion !== undefined, "expectedVersion")
  if (p.expectedVersion !== undefined) w.uvarint(p.expectedVersion, "expectedVersion")
}

const readWrite = (r: Reader): DeleteRequest => {
  const session = r.uvarint("session")
  const seq = r.uvarint("seq")
  const ack = r.uvarint("ack")
  const key = r.bytes("key")
  return r.bool("expectedVersion")
    ? { session, seq, ack, key, expectedVersion: r.uvarint("expectedVersion") }
    : { session, seq, ack, key }
}

/** The frame of a request. Throws {@link WireError} for a payload that is not of its type. */
export const encodeRequest = (request: Request): Uint8Array =>
  frame((w) => {
    const code = METHOD_CODES.get(request.method)
    if (code === undefined) throw new WireError(`unknown method ${String(request.method)}`)
    w.u8(code)
    w.uvarint(request.id, "request id")
    switch (request.method) {
      case "Get":
        w.bytes(request.payload.key, "key")
        w.u8(request.payload.consistency === "stale" ? 1 : 0)
        return
      case "Put":
        writeWrite(w, request.payload)
        w.bytes(request.payload.value, "value")
        return
      case "Delete":
        writeWrite(w, request.payload)
        return
      case "CloseSession":
        w.uvarint(request.payload.session, "session")
        return
      case "OpenSession":
      case "Status":
      case "Ping":
        return
    }
  })

const readRequest = (r: Reader, method: WireMethod, id: number): Request => {
  switch (method) {
    case "Get": {
      const key = r.bytes("key")
      const consistency = r.bool("consistency") ? "stale" : "linearizable"
      return { method, id, payload: { key, consistency } }
    }
    case "Put": {
      const write = readWrite(r)
      // The value lives until the command that carries it is encoded: pooled.
      return { method, id, payload: { ...write, value: r.pooledBytes("value") } }
    }
    case "Delete":
      return { method, id, payload: readWrite(r) }
    case "CloseSession":
      return { method, id, payload: { session: r.uvarint("session") } }
    case "OpenSession":
    case "Status":
    case "Ping":
      return { method, id, payload: undefined }
  }
}

/** Reads a request frame's body (without its length prefix). */
export const decodeRequest = (body: Uint8Array): Result.Result<Request, Malformed> => {
  const r = new Reader(body)
  let id: number | undefined
  try {
    const code = r.u8("method")
    id = r.uvarint("request id")
    const method = WIRE_METHODS[code - 1]
    if (method === undefined) throw new WireError(`unknown method code ${code}`)
    const request = readRequest(r, method, id)
    r.end()
    return Result.succeed(request)
  } catch (e) {
    const detail = e instanceof WireError ? e.message : String(e)
    return Result.fail(id === undefined ? { _tag: "Malformed", detail } : { _tag: "Malformed", detail, id })
  }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const writeAnswer = (w: Writer, method: WireMethod, value: unknown) => {
  // The server's handlers are typed per method; the casts name what each one returns.
  switch (method) {
    case "Ping":
      return
    case "Get": {
      const v = value as GetResponse
      w.bool(v.entry !== null, "entry")
      if (v.entry !== null) {
        w.bytes(v.entry.value, "value")
        w.uvarint(v.entry.version, "version")
      }
      w.uvarint(v.appliedIndex, "appliedIndex")
      w.uvarint(v.commitIndex, "commitIndex")
      return
    }
    case "Put":
      w.uvarint((value as { version: number }).version, "version")
      return
    case "Delete":
      w.bool((value as { deleted: boolean }).deleted, "deleted")
      return
    case "OpenSession":
      w.uvarint((value as { session: number }).session, "session")
      return
    case "CloseSession":
      w.bool((value as { closed: boolean }).closed, "closed")
      return
    case "Status": {
      const v = value as NodeStatus
      w.uvarint(v.id, "id")
      const role = ROLES.indexOf(v.role)
      if (role < 0) throw new WireError(`role ${String(v.role)} is unknown`)
      w.u8(role)
      w.uvarint(v.term, "term")
      w.bool(v.leader !== null, "leader")
      if (v.leader !== null) w.uvarint(v.leader, "leader")
      w.uvarint(v.commitIndex, "commitIndex")
      w.uvarint(v.appliedIndex, "appliedIndex")
      return
    }
  }
}

const readAnswer = (r: Reader, method: WireMethod): unknown => {
  switch (method) {
    case "Ping":
      return undefined
    case "Get": {
      const entry = r.bool("entry") ? { value: r.bytes("value"), version: r.uvarint("version") } : null
      return { entry, appliedIndex: r.uvarint("appliedIndex"), commitIndex: r.uvarint("commitIndex") }
    }
    case "Put":
      return { version: r.uvarint("version") }
    case "Delete":
      return { deleted: r.bool("deleted") }
    case "OpenSession":
      return { session: r.uvarint("session") }
    case "CloseSession":
      return { closed: r.bool("closed") }
    case "Status": {
      const id = r.uvarint("id")
      const role = oneOf(ROLES, r.u8("role"), "role")
      const term = r.uvarint("term")
      const leader = r.bool("leader") ? r.uvarint("leader") : null
      return {
        id,
        role,
        term,
        leader,
        commitIndex: r.uvarint("commitIndex"),
        appliedIndex: r.uvarint("appliedIndex")
      }
    }
  }
}

const writeError = (w: Writer, e: WireErrorValue) => {
  const code = ERROR_CODES.get(e._tag)
  if (code === undefined) throw new WireError(`error ${String(e._tag)} has no wire code`)
  w.u8(code)
  switch (e._tag) {
    case "NotLeader":
    case "LeadershipLost":
      return writeOptionalString(w, e.leaderHint, "leaderHint")
    case "Busy":
      return
    case "ReadNotConfirmed":
      w.u8(READ_REASONS.indexOf(e.reason))
      return writeOptionalString(w, e.leaderHint, "leaderHint")
    case "VersionMismatch":
      return w.uvarint(e.currentVersion, "currentVersion")
    case "SessionExpired":
      return w.uvarint(e.session, "session")
    case "StaleSequence":
      w.uvarint(e.session, "session")
      return w.uvarint(e.seq, "seq")
    case "KeyTooLarge":
    case "ValueTooLarge":
      w.uvarint(e.size, "size")
      return w.uvarint(e.limit, "limit")
  }
}

const readError = (r: Reader, method: WireMethod): WireErrorValue => {
  const tag = oneOf(ERROR_TAGS, r.u8("error") - 1, "error")
  if (!ALLOWED_ERRORS[method].has(tag)) throw new WireError(`${tag} is not an answer to ${method}`)
  switch (tag) {
    case "NotLeader":
      return new NotLeader(hintField(readOptionalString(r, "leaderHint")))
    case "LeadershipLost":
      return new LeadershipLost(hintField(readOptionalString(r, "leaderHint")))
    case "Busy":
      return new Busy()
    case "ReadNotConfirmed": {
      const reason = oneOf(READ_REASONS, r.u8("reason"), "reason")
      return new ReadNotConfirmed({ reason, ...hintField(readOptionalString(r, "leaderHint")) })
    }
    case "VersionMismatch":
      return new VersionMismatch({ currentVersion: r.uvarint("currentVersion") })
    case "SessionExpired":
      return new SessionExpired({ session: r.uvarint("session") })
    case "StaleSequence":
      return new StaleSequence({ session: r.uvarint("session"), seq: r.uvarint("seq") })
    case "KeyTooLarge":
      return new KeyTooLarge({ size: r.uvarint("size"), limit: r.uvarint("limit") })
    case "ValueTooLarge":
      return new ValueTooLarge({ size: r.uvarint("size"), limit: r.uvarint("limit") })
  }
}

/** The frame answering request `id` of `method` with `value`. Throws {@link WireError} when the
 * value is not of the method's answer type. */
export const encodeAnswer = (method: WireMethod, id: number, value: unknown): Uint8Array =>
  frame((w) => {
    w.u8(OUTCOME_ANSWER)
    w.uvarint(id, "request id")
    writeAnswer(w, method, value)
  })

/** The frame answering request `id` with one of the protocol's errors. */
export const encodeError = (id: number, error: WireErrorValue): Uint8Array =>
  frame((w) => {
    w.u8(OUTCOME_ERROR)
    w.uvarint(id, "request id")
    writeError(w, error)
  })

/** The frame telling the client that its request `id` could not be read or answered. */
export const encodeRefused = (id: number, reason: string): Uint8Array =>
  frame((w) => {
    w.u8(OUTCOME_REFUSED)
    w.uvarint(id, "request id")
    writeString(w, reason, "reason")
  })

/**
 * Reads a response frame's body. `methodOf` names the call waiting for an id (undefined: nobody
 * waits for it any more, and the rest of the frame is not read).
 */
export const decodeResponse = (
  body: Uint8Array,
  methodOf: (id: number) => WireMethod | undefined
): Result.Result<Response, Malformed> => {
  const r = new Reader(body)
  try {
    const outcome = r.u8("outcome")
    const id = r.uvarint("request id")
    const method = methodOf(id)
    if (method === undefined) return Result.succeed({ outcome: "stray", id })
    let response: Response
    if (outcome === OUTCOME_ANSWER) response = { outcome: "answer", id, value: readAnswer(r, method) }
    else if (outcome === OUTCOME_ERROR) response = { outcome: "error", id, error: readError(r, method) }
    else if (outcome === OUTCOME_REFUSED)
      response = { outcome: "refused", id, reason: readString(r, "reason") }
    else throw new WireError(`unknown outcome ${outcome}`)
    r.end()
    return Result.succeed(response)
  } catch (e) {
    return Result.fail({ _tag: "Malformed", detail: e instanceof WireError ? e.message : String(e) })
  }
}
