/** A TCP proxy that can black-hole a link: while blocked it drops every connection through it. */
import { createConnection, createServer, type Socket } from "node:net"

export interface LinkProxy {
  readonly port: number
  readonly setBlocked: (blocked: boolean) => void
  readonly close: () => Promise<void>
}

export const startProxy = (port: number, targetPort: number): Promise<LinkProxy> =>
  new Promise((resolve, reject) => {
    let blocked = false
    const open = new Set<Socket>()
    const server = createServer((inbound) => {
      if (blocked) return inbound.destroy()
      const outbound = createConnection({ host: "127.0.0.1", port: targetPort })
      open.add(inbound)
      open.add(outbound)
      const drop = () => {
        inbound.destroy()
        outbound.destroy()
        open.delete(inbound)
        open.delete(outbound)
      }
      inbound.on("error", drop).on("close", drop)
      outbound.on("error", drop).on("close", drop)
      inbound.pipe(outbound)
      outbound.pipe(inbound)
    })
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () =>
      resolve({
        port,
        setBlocked: (b) => {
          blocked = b
          if (b) for (const s of open) s.destroy()
        },
        close: () =>
          new Promise((done) => {
            for (const s of open) s.destroy()
            server.close(() => done())
          })
      })
    )
  })
