import { describe, expect, it } from "vitest"
import { backoffDelay } from "../../src/client/backoff.ts"
import { Router } from "../../src/client/router.ts"
import { ClientSession } from "../../src/client/session.ts"

describe("Router", () => {
  it("goes round the endpoints while no leader is known", () => {
    const r = new Router(["a", "b", "c"])
    expect(r.target()).toBe("a")
    r.passOver("a")
    expect(r.target()).toBe("b")
    r.passOver("b")
    r.passOver("c")
    expect(r.target()).toBe("a")
  })

  it("follows a hint, learns unknown endpoints, and sticks to a confirmed leader", () => {
    const r = new Router(["a"])
    expect(r.redirected("a", "x")).toBe(true)
    expect(r.target()).toBe("x")
    expect(r.endpoints).toEqual(["a", "x"])
    r.confirmed("x")
    expect(r.believedLeader).toBe("x")
    expect(r.target()).toBe("x")
  })

  it("treats a hint naming the answering node itself, or none, as no leader known", () => {
    const r = new Router(["a", "b"])
    expect(r.redirected("a", undefined)).toBe(false)
    expect(r.target()).toBe("b")
    expect(r.redirected("b", "b")).toBe(false)
    expect(r.target()).toBe("a")
  })

  it("moves past a failed node once however many calls report it", () => {
    const r = new Router(["a", "b", "c"])
    r.confirmed("b")
    for (let k = 0; k < 5; k++) r.passOver("b")
    expect(r.believedLeader).toBeUndefined()
    expect(r.target()).toBe("c")
  })

  it("ignores a stale redirect about a node it already left", () => {
    const r = new Router(["a", "b", "c"])
    r.redirected("a", "c")
    // A late NotLeader from "a" naming "b" must not override the newer belief.
    expect(r.redirected("a", "b")).toBe(true)
    expect(r.target()).toBe("c")
  })
})

describe("ClientSession", () => {
  it("hands out seqs from 1 and acks only a finished prefix", () => {
    const s = new ClientSession(7, 10)
    expect([s.allocate(), s.allocate(), s.allocate()]).toEqual([1, 2, 3])
    s.finish(2)
    expect(s.ack).toBe(0)
    s.finish(1)
    expect(s.ack).toBe(2)
    s.finish(3)
    expect(s.ack).toBe(3)
    expect(s.outstanding).toBe(0)
  })

  it("refuses a seq beyond the window until the oldest finishes", () => {
    const s = new ClientSession(1, 2)
    expect(s.allocate()).toBe(1)
    expect(s.allocate()).toBe(2)
    expect(s.allocate()).toBeUndefined()
    s.finish(2)
    expect(s.allocate()).toBeUndefined()
    s.finish(1)
    expect(s.allocate()).toBe(3)
  })

  it("ignores finishing a seq twice or one never handed out", () => {
    const s = new ClientSession(1, 4)
    s.allocate()
    s.finish(5)
    s.finish(1)
    s.finish(1)
    expect(s.ack).toBe(1)
    expect(s.allocate()).toBe(2)
  })
})

describe("backoffDelay", () => {
  it("doubles from the base, is capped, and jitters within [ceiling/2, ceiling]", () => {
    expect(backoffDelay(1, 20, 1000, 0)).toBe(10)
    expect(backoffDelay(1, 20, 1000, 0.999)).toBe(20)
    expect(backoffDelay(3, 20, 1000, 0)).toBe(40)
    expect(backoffDelay(30, 20, 1000, 0)).toBe(500)
    expect(backoffDelay(30, 20, 1000, 0.999)).toBe(1000)
  })
})
