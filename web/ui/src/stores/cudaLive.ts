// The CUDA page in live mode: the launches the live stream brought (the last LIVE_LAUNCHES,
// newest first) and their counts per kernel and second, added to the query API's launch rate
// and top kernels. Counts older than the last answer's end are dropped when it comes (that
// answer has them), so nothing counts twice.
import { defineStore } from 'pinia'
import { Ring, eventId, type LiveEvent } from '../live'
import type { Launch, RatePoint, TopKernel, Window } from './cuda'

export const LIVE_LAUNCHES = 500

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}
function int(v: unknown): number | null {
  return typeof v === 'number' ? v : null
}
function dim(v: unknown): number[] | string | null {
  return Array.isArray(v) || typeof v === 'string' ? (v as number[] | string) : null
}

// A live `cuda` event as the query API's launch, or null for any other CUDA call.
export function launchOf(e: LiveEvent): Launch | null {
  if (e.event !== 'cuda' || e.op !== 'launch') return null
  return {
    id: eventId(e),
    ts_ns: e.ts_ns,
    node: e.node,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    call: str(e.call),
    kernel: str(e.kernel),
    grid: dim(e.grid),
    block: dim(e.block),
    shared_mem: int(e.shared_mem),
    stream: str(e.stream),
    duration_ns: int(e.duration_ns),
    ret: int(e.ret),
  }
}

export interface Cell {
  kernel: string
  start_ns: number // the start of its bucket
  width_ns: number
  launches: number
  total_ns: number
}
export type Counts = Map<string, Cell>

// Adds launches (each counting `weight`: the server's sampling when this page fell behind), in
// buckets of `widthNs` (the chart's step: a cell per kernel and bucket, whatever the rate).
export function countLaunches(counts: Counts, launches: readonly Launch[], weight = 1, widthNs = 1e9) {
  for (const l of launches) {
    const kernel = l.kernel ?? ''
    const start = Math.floor(l.ts_ns / widthNs) * widthNs
    const key = `${start}\u0000${widthNs}\u0000${kernel}`
    const c = counts.get(key) ?? { kernel, start_ns: start, width_ns: widthNs, launches: 0, total_ns: 0 }
    c.launches += weight
    c.total_ns += (l.duration_ns ?? 0) * weight
    counts.set(key, c)
  }
}
// Drops the cells that end at or before `ns`.
export function dropBefore(counts: Counts, ns: number) {
  for (const [k, c] of counts) if (c.start_ns + c.width_ns <= ns) counts.delete(k)
}

// The launch rate with the live counts added, its window ending at `nowNs` (as long as it was).
export function mergeRate(
  rate: { window: Window; step_ns: number; series: RatePoint[] } | null,
  counts: Counts,
  nowNs: number,
): { window: Window; step_ns: number; series: RatePoint[] } | null {
  if (!rate || !(rate.step_ns > 0)) return rate
  const span = rate.window.to_ns - rate.window.from_ns
  const window = { from_ns: Math.max(rate.window.from_ns, nowNs - span), to_ns: Math.max(rate.window.to_ns, nowNs) }
  const step = rate.step_ns
  const series = rate.series.map((r) => ({ ...r }))
  // By kernel and bucket number (the API's bucket starts are multiples of the step, give or
  // take a float's rounding).
  const at = new Map<string, RatePoint>()
  for (const r of series) at.set(`${Math.round(r.ts_ns / step)}\u0000${r.kernel}`, r)
  for (const c of counts.values()) {
    const n = Math.floor((c.start_ns + c.width_ns / 2) / step)
    const key = `${n}\u0000${c.kernel}`
    const row = at.get(key)
    if (row) {
      row.launches += c.launches
      row.total_ns += c.total_ns
    } else {
      const r = { ts_ns: n * step, kernel: c.kernel, launches: c.launches, total_ns: c.total_ns }
      series.push(r)
      at.set(key, r)
    }
  }
  return { window, step_ns: step, series: series.filter((r) => r.ts_ns + step > window.from_ns) }
}

// Top kernels with the live counts added, in the API's order (GPU time, then launches).
export function mergeTop(top: readonly TopKernel[], counts: Counts, limit = 15): TopKernel[] {
  const by = new Map<string, TopKernel>(top.map((k) => [k.kernel, { ...k }]))
  for (const c of counts.values()) {
    const k = by.get(c.kernel) ?? { kernel: c.kernel, launches: 0, total_ns: 0 }
    k.launches += c.launches
    k.total_ns += c.total_ns
    by.set(c.kernel, k)
  }
  return [...by.values()]
    .sort((a, b) => b.total_ns - a.total_ns || b.launches - a.launches || (a.kernel < b.kernel ? -1 : a.kernel > b.kernel ? 1 : 0))
    .slice(0, limit)
}

// Kept outside the store's reactive state (a Map of many cells); `version` says it changed.
const ring = new Ring<Launch>(LIVE_LAUNCHES, (l) => l.id)
const counts: Counts = new Map()

export const useCudaLive = defineStore('cudaLive', {
  state: () => ({
    launches: [] as Launch[],
    received: 0, // launches since live mode went on (the ring keeps the last LIVE_LAUNCHES)
    version: 0,
    cutoffNs: 0,
    stepNs: 1e9, // the chart's step, the width of the count cells
    spanNs: 0, // the range's length: older cells are dropped
  }),
  getters: {
    counts: (s): Counts => (s.version >= 0 ? counts : counts),
  },
  actions: {
    apply(events: readonly LiveEvent[], weight = 1) {
      const launches: Launch[] = []
      for (const e of events) {
        const l = launchOf(e)
        if (l) launches.push(l)
      }
      if (!launches.length) return
      const added = ring.push(launches)
      this.received += added
      countLaunches(
        counts,
        launches.filter((l) => l.ts_ns >= this.cutoffNs),
        weight,
        this.stepNs,
      )
      if (this.spanNs > 0) dropBefore(counts, launches[launches.length - 1].ts_ns - this.spanNs - this.stepNs)
      this.launches = ring.items
      this.version++
    },
    // A new answer of the query API, up to `toNs`, over `spanNs` in buckets of `stepNs`: it has
    // the launches before.
    resync(toNs: number, stepNs = 1e9, spanNs = 0) {
      this.cutoffNs = toNs
      if (stepNs > 0) this.stepNs = stepNs
      this.spanNs = spanNs
      dropBefore(counts, toNs)
      this.version++
    },
    reset() {
      ring.clear()
      counts.clear()
      this.launches = []
      this.received = 0
      this.cutoffNs = 0
      this.version++
    },
  },
})
