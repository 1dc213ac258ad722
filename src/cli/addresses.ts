/** Parsing of the addresses the CLI takes (`host:port`, `1=host:port,2=host:port`). */
import { Schema } from "effect"
import type { NodeId } from "../core/types.ts"

export interface HostPort {
  readonly host: string
  readonly port: number
}

/** A command-line value that does not parse; the message says what was expected. */
export class InvalidFlag extends Schema.TaggedError<InvalidFlag>()("InvalidFlag", {
  flag: Schema.String,
  message: Schema.String
}) {}

export const formatHostPort = (a: HostPort): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/** `host:port` or `[v6]:port`. */
export const parseHostPort = (flag: string, text: string): HostPort | InvalidFlag => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text.trim())
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    return new InvalidFlag({ flag, message: `--${flag} expects host:port, got "${text}"` })
  }
  return { host: (m[1] ?? m[2])!, port }
}

/** `1=host:port,2=host:port,...` into a map by node id. */
export const parsePeers = (flag: string, text: string): ReadonlyMap<NodeId, HostPort> | InvalidFlag => {
  const peers = new Map<NodeId, HostPort>()
  for (const part of text.split(",").filter((p) => p.trim() !== "")) {
    const eq = part.indexOf("=")
    const id = Number(part.slice(0, eq))
    if (eq < 0 || !Number.isInteger(id) || id < 1) {
      return new InvalidFlag({
        flag,
        message: `--${flag} expects id=host:port,... with ids >= 1, got "${part}"`
      })
    }
    const address = parseHostPort(flag, part.slice(eq + 1))
    if (address instanceof InvalidFlag) return address
    if (peers.has(id)) return new InvalidFlag({ flag, message: `--${flag} lists node ${id} twice` })
    peers.set(id, address)
  }
  if (peers.size === 0) return new InvalidFlag({ flag, message: `--${flag} lists no nodes` })
  return peers
}

/** A list of `host:port` separated by commas. */
export const parseEndpoints = (flag: string, text: string): ReadonlyArray<HostPort> | InvalidFlag => {
  const out: HostPort[] = []
  for (const part of text.split(",").filter((p) => p.trim() !== "")) {
    const a = parseHostPort(flag, part)
    if (a instanceof InvalidFlag) return a
    out.push(a)
  }
  if (out.length === 0) return new InvalidFlag({ flag, message: `--${flag} lists no endpoints` })
  return out
}

/** Byte sizes such as `4MiB`, `512KiB`, `1048576`. */
export const parseBytes = (flag: string, text: string): number | InvalidFlag => {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|m|g)?$/i.exec(text.trim())
  if (!m)
    return new InvalidFlag({ flag, message: `--${flag} expects a size like 4MiB or 65536, got "${text}"` })
  const units: Record<string, number> = {
    b: 1,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    k: 1024,
    m: 1024 ** 2,
    g: 1024 ** 3
  }
  return Math.round(Number(m[1]) * units[(m[2] ?? "b").toLowerCase()]!)
}

/** Durations such as `60s`, `500ms`, `2m`, or plain seconds. */
export const parseDuration = (flag: string, text: string): number | InvalidFlag => {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text.trim())
  if (!m)
    return new InvalidFlag({ flag, message: `--${flag} expects a duration like 60s or 500ms, got "${text}"` })
  const n = Number(m[1])
  return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000
}

/** The local cluster `raftkv cluster` starts with the default base port. */
export const DEFAULT_BASE_PORT = 7000
export const localClientEndpoints = (nodes: number, basePort = DEFAULT_BASE_PORT): string =>
  Array.from({ length: nodes }, (_, k) => `127.0.0.1:${basePort + 101 + k}`).join(",")
