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
  // scope server only: the node's enrollment.
  enrolled?: boolean
  created_by?: string
  created_ns?: number
  public_key_fingerprint?: string
  enrolled_ns?: number
  enroll_expires_ns?: number
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
