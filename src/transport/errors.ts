/**
 * Failures of building a TCP transport (the send/receive paths themselves never fail: they count
 * and log instead).
 */
import { Schema } from "effect"

/** The node's own listen address is taken (EADDRINUSE): another process (or node) holds it. */
export class AddressInUse extends Schema.TaggedError<AddressInUse>()("AddressInUse", {
  host: Schema.String,
  port: Schema.Number
}) {
  override get message(): string {
    return `address ${this.host}:${this.port} is already in use`
  }
}

/** The listener could not be opened for another reason (no such address, permission, ...). */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  host: Schema.String,
  port: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: ${this.detail}`
  }
}

/** The transport options are inconsistent (e.g. `self` missing from `peers`). */
export class InvalidTransportConfig extends Schema.TaggedError<InvalidTransportConfig>()(
  "InvalidTransportConfig",
  { detail: Schema.String }
) {
  override get message(): string {
    return `invalid transport configuration: ${this.detail}`
  }
}
