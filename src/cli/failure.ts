/** One clear line for a failed command (the CLI's own parse errors are already printed). */
import { Cause } from "effect"

const cliErrors = new Set([
  "UnrecognizedOption",
  "DuplicateOption",
  "MissingOption",
  "MissingArgument",
  "UnexpectedArgument",
  "InvalidValue",
  "UnknownSubcommand",
  "ValidationError",
  "ShowHelp"
])

export const describeFailure = (cause: Cause.Cause<unknown>): string | undefined => {
  const error = Cause.squash(cause)
  const tag = (error as { readonly _tag?: unknown } | null)?._tag
  if (typeof tag === "string" && cliErrors.has(tag)) return undefined
  if (error instanceof Error) {
    const message = error.message.trim()
    const name = typeof tag === "string" ? tag : error.name
    return message === "" ? name : message
  }
  return String(error)
}
