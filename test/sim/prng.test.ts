import { describe, expect, it } from "vitest"
import { Heap } from "./heap.ts"
import { Prng } from "./prng.ts"

const draws = (rng: Prng, n: number): number[] => Array.from({ length: n }, () => rng.u32())

describe("Prng", () => {
  it("gives the same sequence for the same seed", () => {
    expect(draws(new Prng(42), 100)).toEqual(draws(new Prng(42), 100))
  })

  it("gives different sequences for different seeds, including seeds above 2^32", () => {
    const a = draws(new Prng(1), 20)
    expect(draws(new Prng(2), 20)).not.toEqual(a)
    expect(draws(new Prng(1 + 2 ** 32), 20)).not.toEqual(a)
  })

  it("forks named sub-streams that are deterministic and distinct", () => {
    const r1 = new Prng(7)
    const r2 = new Prng(7)
    const net1 = r1.fork("network")
    const disk1 = r1.fork("disk")
    const net2 = r2.fork("network")
    expect(draws(net1, 50)).toEqual(draws(net2, 50))
    expect(draws(disk1, 50)).not.toEqual(draws(new Prng(7).fork("network"), 50))
  })

  it("keeps a sub-stream independent of how much another one draws", () => {
    const a = new Prng(9)
    const aNet = a.fork("network")
    const aDisk = a.fork("disk")
    const b = new Prng(9)
    const bNet = b.fork("network")
    const bDisk = b.fork("disk")
    draws(aNet, 1000)
    draws(bNet, 3)
    expect(draws(aDisk, 20)).toEqual(draws(bDisk, 20))
  })

  it("draws within the requested ranges, roughly uniformly", () => {
    const rng = new Prng(3)
    const counts = new Array<number>(10).fill(0)
    let outOfRange = 0
    for (let k = 0; k < 20_000; k++) {
      const f = rng.next()
      if (!(f >= 0 && f < 1)) outOfRange++
      const i = rng.int(5, 15)
      if (!(Number.isInteger(i) && i >= 5 && i < 15)) outOfRange++
      else counts[i - 5]!++
    }
    expect(outOfRange).toBe(0)
    for (const c of counts) expect(c).toBeGreaterThan(1700)
    let sum = 0
    for (let k = 0; k < 20_000; k++) sum += rng.exp(10)
    expect(sum / 20_000).toBeGreaterThan(9)
    expect(sum / 20_000).toBeLessThan(11)
  })
})

describe("Heap", () => {
  it("pops by time, then by insertion order", () => {
    const heap = new Heap<{ time: number; seq: number }>()
    const rng = new Prng(5)
    const items = Array.from({ length: 500 }, (_, seq) => ({ time: rng.int(0, 50), seq }))
    for (const it of items) heap.push(it)
    const out: Array<{ time: number; seq: number }> = []
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x)
    const sorted = [...items].sort((a, b) => a.time - b.time || a.seq - b.seq)
    expect(out).toEqual(sorted)
    expect(heap.size).toBe(0)
  })
})
