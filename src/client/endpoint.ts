/** Endpoints as the SDK takes them: `host:port` strings (`[v6]:port` for IPv6 literals). */

export interface Endpoint {
  readonly host: string
  readonly port: number
}

/** Parses `host:port` or `[v6]:port`; undefined when it is neither. */
export const parseEndpoint = (text: string): Endpoint | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  if (port < 1 || port > 65535) return undefined
  return { host: (m[1] ?? m[2])!, port }
}
