/**
 * Checks of a bench run's output dir: results.json is well formed and its counts add up, the
 * charts are real images.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as zlib from "node:zlib"
import { expect } from "vitest"
import type { Results } from "../../src/bench/results.ts"

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export interface PngInfo {
  readonly width: number
  readonly height: number
  /** Distinct pixel values, counted up to 1000 (a blank image has one). */
  readonly colors: number
}

/** Parse a PNG: signature, chunk CRCs, IHDR, IDAT that inflates to the declared size, IEND. */
export const parsePng = (bytes: Buffer): PngInfo => {
  expect(bytes.subarray(0, 8).equals(SIGNATURE), "PNG signature").toBe(true)
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  let ended = false
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset)
    const type = bytes.subarray(offset + 4, offset + 8).toString("latin1")
    const data = bytes.subarray(offset + 8, offset + 8 + length)
    const crc = bytes.readUInt32BE(offset + 8 + length)
    expect(zlib.crc32(bytes.subarray(offset + 4, offset + 8 + length)), `CRC of ${type}`).toBe(crc)
    if (type === "IHDR") {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      expect(data[8], "8-bit samples").toBe(8)
      channels = ({ 2: 3, 6: 4, 0: 1, 4: 2 } as Record<number, number>)[data[9]!] ?? 0
    } else if (type === "IDAT") idat.push(data)
    else if (type === "IEND") ended = true
    offset += 12 + length
  }
  expect(ended, "IEND chunk").toBe(true)
  expect(width).toBeGreaterThan(0)
  expect(height).toBeGreaterThan(0)
  expect(channels).toBeGreaterThan(0)
  const raw = zlib.inflateSync(Buffer.concat(idat))
  expect(raw.length, "pixel data size").toBe(height * (1 + width * channels))
  const pixels = unfilter(raw, width, height, channels)
  const seen = new Set<number>()
  for (let p = 0; p < pixels.length && seen.size < 1000; p += channels) {
    let v = 0
    for (let c = 0; c < channels; c++) v = v * 256 + pixels[p + c]!
    seen.add(v)
  }
  return { width, height, colors: seen.size }
}

const paeth = (a: number, b: number, c: number): number => {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

/** Undo PNG's per-row filters (None, Sub, Up, Average, Paeth) of 8-bit samples. */
const unfilter = (raw: Buffer, width: number, height: number, bpp: number): Uint8Array => {
  const stride = width * bpp
  const out = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    expect(filter, "filter type").toBeLessThanOrEqual(4)
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!
      const a = x >= bpp ? out[y * stride + x - bpp]! : 0
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp]! : 0
      const pred =
        filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c)
      out[y * stride + x] = (v + pred) & 0xff
    }
  }
  return out
}

const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)

/** Read `<dir>/results.json` and check everything that must hold for any run. */
export const checkRunDir = (dir: string): Results => {
  const r = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as Results
  const seconds = Math.ceil(r.config.durationMs / 1000)
  expect(r.perSecond).toHaveLength(seconds)
  expect(r.totals.seconds).toBe(seconds)
  expect(r.perSecond.map((s) => s.second)).toEqual(Array.from({ length: seconds }, (_, k) => k + 1))
  // Totals are the sums of the per-second series.
  expect(r.totals.ops).toBe(sum(r.perSecond.map((s) => s.ops)))
  expect(r.totals.reads).toBe(sum(r.perSecond.map((s) => s.reads)))
  expect(r.totals.writes).toBe(sum(r.perSecond.map((s) => s.writes)))
  expect(r.totals.ops).toBe(r.totals.reads + r.totals.writes)
  for (const s of r.perSecond) {
    expect(s.ops).toBe(s.reads + s.writes)
    expect(s.errors).toBe(sum(Object.values(s.errorsByKind)))
  }
  // Errors by kind add up to the errors, and to the per-second errors.
  expect(r.totals.errors).toBe(sum(Object.values(r.errorsByKind)))
  expect(r.totals.errors).toBe(sum(r.perSecond.map((s) => s.errors)))
  expect(r.latency.count).toBe(r.totals.ops)
  expect(r.readLatency.count + r.writeLatency.count).toBe(r.totals.ops)
  expect(r.totals.opsPerSec).toBeCloseTo(r.totals.ops / (r.config.durationMs / 1000), 0)
  // Percentiles are ordered.
  const l = r.latency
  expect(l.p50Ms).toBeLessThanOrEqual(l.p90Ms)
  expect(l.p90Ms).toBeLessThanOrEqual(l.p99Ms)
  expect(l.p99Ms).toBeLessThanOrEqual(l.p999Ms)
  expect(l.p999Ms).toBeLessThanOrEqual(l.maxMs)
  // The summary line repeats the totals.
  expect(r.summary).toEqual({
    target: r.config.target,
    clients: r.config.clients,
    readRatio: r.config.readRatio,
    opsPerSec: r.totals.opsPerSec,
    p50Ms: l.p50Ms,
    p99Ms: l.p99Ms,
    errors: r.totals.errors
  })
  // Per-member synced-write counts per second add up to the member's total when all were read.
  r.nodes.forEach((n, i) => {
    const perSecond = r.perSecond.map((s) => s.persist[i] ?? null)
    if (n.persistCount !== null && perSecond.every((p) => p !== null)) {
      expect(sum(perSecond.map((p) => p!.count)), `node ${n.node} synced writes`).toBe(n.persistCount)
    }
  })
  // Snapshots per second add up to the snapshots taken when every member could be read.
  if (r.snapshots.count !== null && r.perSecond.every((s) => s.persist.every((p) => p !== null))) {
    expect(sum(r.perSecond.map((s) => s.snapshots))).toBe(r.snapshots.count)
  }
  // Charts: every listed file exists; the PNGs are real, non-blank images.
  for (const name of ["ops-latency", "persistence", "latency-distribution"]) {
    expect(r.charts).toContain(`${name}.png`)
    const png = parsePng(readFileSync(join(dir, `${name}.png`)))
    expect(png.width).toBeGreaterThanOrEqual(800)
    expect(png.colors, `${name}.png has content`).toBeGreaterThan(10)
    expect(readFileSync(join(dir, `${name}.svg`), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>\s*$/)
  }
  return r
}
