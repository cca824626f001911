// The fleet: GET /api/v1/nodes, polled; an admin's probe switches (PUT .../probes).
import { defineStore } from 'pinia'
import { useAuth } from './auth'

export const FAMILIES = ['cuda', 'ggml', 'llama', 'exec', 'open', 'sched', 'syscalls', 'net'] as const
export type Family = (typeof FAMILIES)[number]

export interface ProbePlan {
  families: Family[]
  comm?: string
  cgroup?: string
  pid?: number
}

export interface NodeInfo {
  name: string
  state: 'up' | 'stale' | 'down' | 'stopped' | 'never'
  since_ns?: number
  last_seen_ns?: number
  first_seen_ns?: number
  report: {
    ts_ns?: number
    version?: string
    kernel?: string
    boot_id?: string
    cpus?: number
    memory_bytes?: number
    gpus?: Record<string, string>[]
    running?: Family[]
    events_per_s?: number
    events_total?: number
    dropped?: Record<string, number>
    spool_pending?: number
    queue_fill?: number
    stopping?: boolean
  }
  probes: {
    desired: { version: number; plan: ProbePlan; updated_by: string; updated_ns: number } | null
    applied: { version?: number; plan?: ProbePlan; errors?: Record<string, string>; applied_ns?: number } | null
    pending: boolean
  }
}

export function droppedTotal(n: NodeInfo): number {
  return Object.values(n.report.dropped ?? {}).reduce((a, b) => a + (Number(b) || 0), 0)
}

// The plan an admin's switch sends: the node's current plan (its filters kept) with one family
// turned on or off, in the API's order.
export function toggledPlan(n: NodeInfo, family: Family, on: boolean): ProbePlan {
  const base: ProbePlan = n.probes.desired?.plan ?? n.probes.applied?.plan ?? { families: n.report.running ?? [] }
  const set = new Set<Family>(base.families)
  if (on) set.add(family)
  else set.delete(family)
  const plan: ProbePlan = { families: FAMILIES.filter((f) => set.has(f)) }
  if (base.comm) plan.comm = base.comm
  if (base.cgroup) plan.cgroup = base.cgroup
  if (base.pid) plan.pid = base.pid
  return plan
}

export const useNodes = defineStore('nodes', {
  state: () => ({
    nodes: [] as NodeInfo[],
    nowNs: 0,
    loaded: false,
    loading: false,
    error: null as unknown,
    saving: {} as Record<string, boolean>,
  }),
  actions: {
    async load() {
      this.loading = true
      try {
        const r = await useAuth().call<{ nodes: NodeInfo[]; now_ns: number }>('/api/v1/nodes')
        this.nodes = [...r.nodes].sort((a, b) => a.name.localeCompare(b.name))
        this.nowNs = r.now_ns
        this.error = null
        this.loaded = true
      } catch (e) {
        this.error = e
      } finally {
        this.loading = false
      }
    },
    async setFamily(node: NodeInfo, family: Family, on: boolean) {
      const key = `${node.name}/${family}`
      this.saving[key] = true
      try {
        await useAuth().call(`/api/v1/nodes/${encodeURIComponent(node.name)}/probes`, {
          method: 'PUT',
          body: JSON.stringify(toggledPlan(node, family, on)),
        })
        await this.load()
      } finally {
        delete this.saving[key]
      }
    },
  },
})

// GET /api/v1/nodes/{name}: a node with its per-minute history.
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
