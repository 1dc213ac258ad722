/**
 * Scalar schemas of the wire format, shared by the message schemas.
 */
import { Schema } from "effect"

/** A log index, term, offset, size or request id: a safe integer >= 0 (no NaN, no fraction). */
export const Index = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** A node id on the wire: a positive integer that fits in 31 bits (ids are small, like `--id 1`). */
export const NodeId = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 0x7fff_ffff }))

/** A cluster id: a short non-empty string, compared verbatim. */
export const ClusterId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))
