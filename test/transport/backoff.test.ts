import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { backoffMillis } from "../../src/transport/backoff.ts"

describe("reconnect backoff", () => {
  it("doubles from min up to max, jittered within [d/2, d)", () => {
    fc.assert(
      fc.property(
        fc.nat(100),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, min, spread, random) => {
          const max = min + spread
          const nominal = Math.min(max, min * 2 ** attempt)
          const d = backoffMillis(attempt, min, max, random)
          expect(d).toBeGreaterThanOrEqual(nominal / 2)
          expect(d).toBeLessThan(nominal + 1e-9)
          expect(d).toBeLessThanOrEqual(max)
        }
      )
    )
  })

  it("grows with the attempt number until it reaches the cap", () => {
    const delays = [0, 1, 2, 3, 4, 5, 6].map((a) => backoffMillis(a, 50, 1000, 0.5))
    expect(delays).toStrictEqual([37.5, 75, 150, 300, 600, 750, 750])
  })
})
