// The CUDA page's data: launch rate, top kernels, launches (a page at a time) and one launch.
import { defineStore } from 'pinia'
import { useAuth } from './auth'
import { apiQuery, type Filters } from '../filters'

export interface Window {
  from_ns: number
  to_ns: number
}
export interface RatePoint {
  ts_ns: number
  kernel: string
  launches: number
  total_ns: number
}
export interface TopKernel {
  kernel: string
  launches: number
  total_ns: number
}
export interface Launch {
  id: string
  ts_ns: number
  node: string
  pid: number
  tid: number
  comm: string
  call: string | null
  kernel: string | null
  grid: number[] | string | null
  block: number[] | string | null
  shared_mem: number | null
  stream: string | null
  duration_ns: number | null
  ret: number | null
}
export interface LaunchDetail extends Launch {
  handle: string | null
  filename: string | null
  argv: string[] | null
}

// launch-rate's rows as one series per kernel over every bucket of the window (0 where a
// kernel had no launch), x in ms for ECharts' time axis.
export function rateSeries(rows: RatePoint[], stepNs: number, win: Window): { kernel: string; points: [number, number][] }[] {
  const kernels = [...new Set(rows.map((r) => r.kernel))]
  if (!stepNs || stepNs <= 0) return []
  const first = Math.floor(win.from_ns / stepNs) * stepNs
  const buckets: number[] = []
  for (let t = first; t < win.to_ns && buckets.length < 2000; t += stepNs) buckets.push(t)
  const perSecond = 1e9 / stepNs
  return kernels.map((kernel) => {
    const at = new Map<number, number>()
    for (const r of rows) if (r.kernel === kernel) at.set(r.ts_ns, (at.get(r.ts_ns) ?? 0) + r.launches)
    // Bucket starts from the API may not sit on our grid (a float's rounding): match the nearest.
    const points: [number, number][] = buckets.map((t) => {
      let v = at.get(t)
      if (v === undefined)
        for (const [ts, n] of at)
          if (Math.abs(ts - t) < stepNs / 2) {
            v = n
            break
          }
      return [t / 1e6, (v ?? 0) * perSecond]
    })
    return { kernel, points }
  })
}

export const useCuda = defineStore('cuda', {
  state: () => ({
    rate: null as { window: Window; step_ns: number; series: RatePoint[] } | null,
    top: null as { window: Window; kernels: TopKernel[] } | null,
    launches: [] as Launch[],
    cursor: null as string | null,
    loading: false,
    loadingMore: false,
    error: null as unknown,
    detail: null as LaunchDetail | null,
    detailError: null as unknown,
    detailLoading: false,
  }),
  actions: {
    async load(f: Filters) {
      const auth = useAuth()
      this.loading = true
      try {
        const [rate, top, launches] = await Promise.all([
          auth.call<{ window: Window; step_ns: number; series: RatePoint[] }>(
            `/api/v1/query/cuda/launch-rate?${apiQuery(f, { limit: 8 })}`,
          ),
          auth.call<{ window: Window; kernels: TopKernel[] }>(`/api/v1/query/cuda/top-kernels?${apiQuery(f, { limit: 15 })}`),
          auth.call<{ items: Launch[]; next_cursor: string | null }>(`/api/v1/query/cuda/launches?${apiQuery(f, { limit: 50 })}`),
        ])
        this.rate = rate
        this.top = top
        this.launches = launches.items
        this.cursor = launches.next_cursor
        this.error = null
      } catch (e) {
        this.error = e
      } finally {
        this.loading = false
      }
    },
    async more(f: Filters) {
      if (!this.cursor) return
      this.loadingMore = true
      try {
        const r = await useAuth().call<{ items: Launch[]; next_cursor: string | null }>(
          `/api/v1/query/cuda/launches?${apiQuery(f, { limit: 50, cursor: this.cursor })}`,
        )
        this.launches.push(...r.items)
        this.cursor = r.next_cursor
      } catch (e) {
        this.error = e
      } finally {
        this.loadingMore = false
      }
    },
    async open(id: string) {
      this.detail = null
      this.detailError = null
      this.detailLoading = true
      try {
        this.detail = await useAuth().call<LaunchDetail>(`/api/v1/query/cuda/launches/${encodeURIComponent(id)}`)
      } catch (e) {
        this.detailError = e
      } finally {
        this.detailLoading = false
      }
    },
    close() {
      this.detail = null
      this.detailError = null
      this.detailLoading = false
    },
  },
})
