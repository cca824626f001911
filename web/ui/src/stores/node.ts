// One node (the node page): GET /api/v1/nodes/{name} with its per-minute history. Apart from
// nodes.ts so that the fleet page, loaded first, does not carry it.
import { defineStore } from 'pinia'
import { useAuth } from './auth'
import type { NodeInfo } from './nodes'

export interface NodeMinute {
  minute_ns: number
  heartbeats: number
  events: number
  dropped: number
}
export interface NodeDetail extends NodeInfo {
  history?: NodeMinute[]
  now_ns?: number
}

const MINUTE_NS = 60e9

// Every minute of [fromNs, nowNs] (the minute of nowNs included), null where the node sent no
// heartbeat (it was down or not yet there): the liveness strip and the events chart.
export function historyMinutes(history: NodeMinute[], fromNs: number, nowNs: number): { minute_ns: number; m: NodeMinute | null }[] {
  // Keyed by the minute's number: Unix ns are past a double's exact integers.
  const at = new Map(history.map((m) => [Math.round(m.minute_ns / MINUTE_NS), m]))
  const out: { minute_ns: number; m: NodeMinute | null }[] = []
  const last = Math.floor(nowNs / MINUTE_NS)
  for (let k = Math.max(Math.floor(fromNs / MINUTE_NS), last - 1999); k <= last; k++)
    out.push({ minute_ns: k * MINUTE_NS, m: at.get(k) ?? null })
  return out
}

// The share of the minutes with a heartbeat, from the first one (minutes before the node first
// reported do not count against it); null with none.
export function uptimeShare(minutes: { m: NodeMinute | null }[]): number | null {
  const start = minutes.findIndex((x) => x.m !== null)
  if (start < 0) return null
  const seen = minutes.slice(start)
  return seen.filter((x) => x.m !== null).length / seen.length
}

export const useNode = defineStore('node', {
  state: () => ({
    node: null as NodeDetail | null,
    name: '',
    fromNs: 0,
    loading: false,
    error: null as unknown,
  }),
  actions: {
    async load(name: string, fromNs: number) {
      if (name !== this.name) {
        this.node = null
        this.error = null
      }
      this.name = name
      this.fromNs = fromNs
      this.loading = true
      try {
        const r = await useAuth().call<NodeDetail>(`/api/v1/nodes/${encodeURIComponent(name)}?from=${Math.floor(fromNs)}`)
        if (name !== this.name) return
        this.node = r
        this.error = null
      } catch (e) {
        if (name === this.name) this.error = e
      } finally {
        this.loading = false
      }
    },
  },
})
