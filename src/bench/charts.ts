/**
 * The bench's charts: drawn with Apache ECharts' server-side SVG renderer (no browser, no
 * canvas) and rasterized to PNG with resvg.
 */
import { Resvg } from "@resvg/resvg-js"
import * as echarts from "echarts"

const WIDTH = 1200
const HEIGHT = 600
const FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"

/** Render an ECharts option to an SVG document. */
export const renderSvg = (option: echarts.EChartsOption, width = WIDTH, height = HEIGHT): string => {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height })
  try {
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      textStyle: { fontFamily: FONT },
      ...option
    })
    return chart.renderToSVGString()
  } finally {
    chart.dispose()
  }
}

/** Rasterize an SVG document to PNG bytes (system fonts; DejaVu Sans when present). */
export const svgToPng = (svg: string): Uint8Array =>
  new Resvg(svg, {
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" }
  })
    .render()
    .asPng()

const grid = { left: 80, right: 90, top: 70, bottom: 85 }
const title = (text: string, subtext?: string) => ({
  text,
  ...(subtext === undefined ? {} : { subtext }),
  left: "center",
  textStyle: { fontSize: 18 }
})
const legend = { bottom: 8, itemGap: 24 }

export interface OpsLatencyData {
  readonly title: string
  readonly subtitle?: string
  readonly ops: ReadonlyArray<number>
  readonly p50Ms: ReadonlyArray<number>
  readonly p99Ms: ReadonlyArray<number>
  readonly errors: ReadonlyArray<number>
  /** Seconds (1-based) in which a member took a snapshot / saw a leader change: marked lines. */
  readonly snapshotSeconds?: ReadonlyArray<number>
  readonly leaderChangeSeconds?: ReadonlyArray<number>
}

const marks = (d: OpsLatencyData) => {
  const lines = [
    ...(d.snapshotSeconds ?? []).map((s) => ({
      xAxis: String(s),
      label: { formatter: "snapshot", color: "#6a1b9a" },
      lineStyle: { color: "#6a1b9a", type: "dashed" as const }
    })),
    ...(d.leaderChangeSeconds ?? []).map((s) => ({
      xAxis: String(s),
      label: { formatter: "leader change", color: "#e65100" },
      lineStyle: { color: "#e65100", type: "solid" as const, width: 2 }
    }))
  ]
  return lines.length === 0 ? {} : { markLine: { symbol: "none", silent: true, data: lines } }
}

/** The x axis of per-second charts: seconds 1..n. */
const timeAxis = (seconds: number) => ({
  type: "category" as const,
  name: "time (s)",
  nameLocation: "middle" as const,
  nameGap: 30,
  data: Array.from({ length: seconds }, (_, i) => String(i + 1))
})

/** Operations per second (bars) and p50/p99 latency (lines, right axis) over time. */
export const opsLatencyChart = (d: OpsLatencyData): echarts.EChartsOption => ({
  title: title(d.title, d.subtitle),
  legend,
  grid: { ...grid, top: d.subtitle === undefined ? 70 : 85 },
  xAxis: timeAxis(d.ops.length),
  yAxis: [
    { type: "value", name: "operations / s", min: 0 },
    { type: "value", name: "latency (ms)", min: 0, splitLine: { show: false } }
  ],
  series: [
    {
      name: "ops/s",
      type: "bar",
      data: [...d.ops],
      itemStyle: { color: "#7eb0d5" },
      barCategoryGap: "10%",
      ...marks(d)
    },
    { name: "errors/s", type: "bar", data: [...d.errors], itemStyle: { color: "#fd7f6f" }, barGap: "-100%" },
    {
      name: "p50 latency",
      type: "line",
      yAxisIndex: 1,
      data: [...d.p50Ms],
      showSymbol: false,
      lineStyle: { width: 2 },
      itemStyle: { color: "#2e7d32" }
    },
    {
      name: "p99 latency",
      type: "line",
      yAxisIndex: 1,
      data: [...d.p99Ms],
      showSymbol: false,
      lineStyle: { width: 2 },
      itemStyle: { color: "#c62828" }
    }
  ]
})

export interface LineSeries {
  readonly name: string
  readonly values: ReadonlyArray<number | null>
  readonly dashed?: boolean
  /** Series with the same group share a color. */
  readonly group?: number
}

const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22"
]

/** Lines over time (one point per second); gaps where a value is null. */
export const timeLinesChart = (d: {
  readonly title: string
  readonly subtitle?: string
  readonly yName: string
  readonly seconds: number
  readonly series: ReadonlyArray<LineSeries>
  /** Shown in the middle of an empty chart. */
  readonly emptyNote?: string
}): echarts.EChartsOption => ({
  title: title(d.title, d.subtitle),
  legend,
  grid: { ...grid, top: d.subtitle === undefined ? 70 : 85 },
  xAxis: timeAxis(d.seconds),
  yAxis: { type: "value", name: d.yName, min: 0 },
  series: d.series.map((s) => ({
    name: s.name,
    type: "line" as const,
    data: s.values.map((v) => (v === null ? "-" : v)),
    showSymbol: false,
    connectNulls: false,
    lineStyle: { width: 2, type: s.dashed === true ? ("dashed" as const) : ("solid" as const) },
    ...(s.group === undefined ? {} : { itemStyle: { color: PALETTE[s.group % PALETTE.length]! } })
  })),
  ...(d.series.length === 0 && d.emptyNote !== undefined
    ? {
        graphic: {
          type: "text",
          left: "center",
          top: "middle",
          style: { text: d.emptyNote, fontSize: 16, fill: "#666" }
        }
      }
    : {})
})

export interface DistributionSeries {
  readonly name: string
  readonly points: ReadonlyArray<{ readonly percentile: number; readonly ms: number }>
}

/** x of a percentile on the distribution chart: 1/(1-p), so 90% -> 10, 99% -> 100, 99.9% -> 1000. */
const tailX = (percentile: number): number => 1 / Math.max(1e-7, 1 - percentile / 100)

const percentileLabel = (x: number): string => {
  const p = 100 * (1 - 1 / x)
  return `${Number(p.toFixed(p >= 99 ? 4 : 1))}%`
}

/** Latency by percentile (HdrHistogram's percentile spectrum), log-scaled tail. */
export const distributionChart = (d: {
  readonly title: string
  readonly subtitle?: string
  readonly series: ReadonlyArray<DistributionSeries>
}): echarts.EChartsOption => {
  const finite = (pts: DistributionSeries["points"]) => pts.filter((p) => p.percentile < 100)
  const maxX = Math.max(10, ...d.series.flatMap((s) => finite(s.points).map((p) => tailX(p.percentile))))
  const top = 10 ** Math.ceil(Math.log10(maxX * 1.01))
  return {
    title: title(d.title, d.subtitle),
    legend,
    grid: { ...grid, top: d.subtitle === undefined ? 70 : 85 },
    xAxis: {
      type: "log",
      name: "percentile",
      nameLocation: "middle",
      nameGap: 30,
      min: 1,
      max: top,
      axisLabel: { formatter: (x: number) => percentileLabel(x) }
    },
    yAxis: { type: "value", name: "latency (ms)", min: 0 },
    series: d.series.map((s) => ({
      name: s.name,
      type: "line" as const,
      showSymbol: false,
      lineStyle: { width: 2 },
      // The maximum is drawn at the right edge.
      data: [
        ...finite(s.points).map((p) => [tailX(p.percentile), p.ms]),
        ...s.points.filter((p) => p.percentile >= 100).map((p) => [top, p.ms])
      ]
    }))
  }
}

export interface BarGroup {
  readonly name: string
  readonly values: ReadonlyArray<number>
}

/** Grouped bars (e.g. ops/s of each target per run). */
export const barsChart = (d: {
  readonly title: string
  readonly subtitle?: string
  readonly categories: ReadonlyArray<string>
  readonly yName: string
  readonly groups: ReadonlyArray<BarGroup>
}): echarts.EChartsOption => ({
  title: title(d.title, d.subtitle),
  legend,
  grid: { ...grid, top: d.subtitle === undefined ? 70 : 85 },
  xAxis: { type: "category", data: [...d.categories] },
  yAxis: { type: "value", name: d.yName, min: 0 },
  series: d.groups.map((g) => ({
    name: g.name,
    type: "bar" as const,
    data: [...g.values],
    label: { show: true, position: "top" as const }
  }))
})
