import { describe, expect, it } from "vitest"
import { allocPooled, copyPooled } from "../../src/transport/byte-pool.ts"
import { Writer } from "../../src/transport/wire.ts"

describe("byte pool", () => {
  it("never hands out the same bytes twice, and starts every array 8-byte aligned", () => {
    const arrays = Array.from({ length: 2000 }, (_, i) => allocPooled(1 + (i % 300)))
    for (const [i, a] of arrays.entries()) a.fill(i % 251)
    arrays.forEach((a, i) => {
      expect(a.byteOffset % 8).toBe(0)
      expect(a.every((b) => b === i % 251)).toBe(true)
    })
    // 2000 arrays of up to 300 bytes need several 64 KiB slabs.
    expect(new Set(arrays.map((a) => a.buffer)).size).toBeGreaterThan(1)
  })

  it("shares a slab between small arrays and gives large ones a buffer of their own", () => {
    const a = allocPooled(100)
    const b = allocPooled(100)
    expect(a.buffer).toBe(b.buffer)
    expect(a.buffer.byteLength).toBe(64 * 1024)
    const big = allocPooled(5000)
    expect(big.buffer.byteLength).toBe(5000)
    expect(big.byteOffset).toBe(0)
  })

  it("copies: the copy does not change with its source", () => {
    const source = new Uint8Array([1, 2, 3, 4])
    const copy = copyPooled(source)
    source[0] = 9
    expect([...copy]).toEqual([1, 2, 3, 4])
  })

  it("a writer's finished value survives the writer's reuse", () => {
    const w = new Writer(16)
    w.raw(new Uint8Array([1, 2, 3]))
    const first = w.finish()
    w.reset()
    w.raw(new Uint8Array([7, 7, 7, 7]))
    const view = w.view()
    expect([...first]).toEqual([1, 2, 3])
    expect([...view]).toEqual([7, 7, 7, 7])
    w.reset()
    w.u8(5)
    // A view is of the writer's buffer: the next value overwrites it.
    expect(view[0]).toBe(5)
  })
})
