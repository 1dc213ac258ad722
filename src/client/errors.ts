/**
 * The errors a client sees. The protocol's tagged errors (src/kv/protocol.ts) are re-exported as
 * they are, so code can `catchTag("VersionMismatch", ...)` whether it uses the Effect API or the
 * Promise facade (which rejects with these very instances). Errors the client retries on its own
 * (NotLeader, Busy, LeadershipLost, ReadNotConfirmed, lost connections) never reach the caller:
 * when retrying runs out of time the caller gets {@link Timeout}.
 */
import { Schema } from "effect"
import type { KeyTooLarge, Timeout, ValueTooLarge, VersionMismatch } from "../kv/protocol.ts"

export {
  Busy,
  KeyTooLarge,
  LeadershipLost,
  NotLeader,
  ReadNotConfirmed,
  SessionExpired,
  StaleSequence,
  Timeout,
  ValueTooLarge,
  VersionMismatch
} from "../kv/protocol.ts"

/**
 * A write whose outcome cannot be known any more: an earlier attempt may have reached the log,
 * and the server can no longer say what became of it - its session expired (`SessionExpired`)
 * or the session's remembered result was dropped (`StaleSequence`). Like {@link Timeout}, the
 * write may or may not have happened; unlike Timeout, retrying can never settle it. Read the key
 * to find out.
 */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>()("OutcomeUnknown", {
  reason: Schema.Literals(["SessionExpired", "StaleSequence"]),
  session: Schema.Number,
  seq: Schema.Number
}) {
  override get message(): string {
    return `the write's outcome is unknown: an earlier attempt may have been applied, but ${
      this.reason === "SessionExpired" ? "its session expired" : "its result was dropped"
    } (session ${this.session}, seq ${this.seq})`
  }
}

/** The client was closed before or while the call ran. */
export class ClientClosed extends Schema.TaggedError<ClientClosed>()("ClientClosed", {}) {
  override get message(): string {
    return "the client is closed"
  }
}

/** Options a client cannot start with (an empty or malformed endpoint list, a negative timeout...). */
export class InvalidClientOptions extends Schema.TaggedError<InvalidClientOptions>()("InvalidClientOptions", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/** One node could not be reached (used where a single node is asked, as by `nodeStatus`). */
export class NodeUnreachable extends Schema.TaggedError<NodeUnreachable>()("NodeUnreachable", {
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.endpoint} unreachable: ${this.reason}`
  }
}

/**
 * The connection to a node could not be opened (`open`: the request was never sent) or broke,
 * or carried something unreadable, with the request on it (`lost`: it may have reached the
 * node). The client retries both on its own, on the next node.
 */
export class ConnectionLost extends Schema.TaggedError<ConnectionLost>()("ConnectionLost", {
  endpoint: Schema.String,
  phase: Schema.Literals(["open", "lost"]),
  detail: Schema.String
}) {
  override get message(): string {
    return this.phase === "open"
      ? `cannot connect to ${this.endpoint} (${this.detail})`
      : `connection to ${this.endpoint} lost (${this.detail})`
  }
}

/** The node could not read a request, or failed to answer it: a bug on one side, not retried. */
export class RequestRefused extends Schema.TaggedError<RequestRefused>()("RequestRefused", {
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.endpoint} refused the request: ${this.reason}`
  }
}

export type GetError = KeyTooLarge | Timeout | ClientClosed
export type PutError = VersionMismatch | KeyTooLarge | ValueTooLarge | Timeout | OutcomeUnknown | ClientClosed
export type DeleteError = VersionMismatch | KeyTooLarge | Timeout | OutcomeUnknown | ClientClosed
export type StatusError = NodeUnreachable | Timeout | ClientClosed

/** Every error the client API can fail with. */
export type KvClientError = GetError | PutError | DeleteError | StatusError
