// The Host page's data: processes (a tree by parent pid), file opens, scheduling, syscalls and
// TCP connections. Each panel loads and fails on its own: a family that is off leaves the others.
import { defineStore } from 'pinia'
import { useAuth } from './auth'
import { apiQuery, type Filters } from '../filters'
import type { Window } from './cuda'

export interface ProcessExit {
  ts_ns: number
  exit_code: number | null
  signal: number | null
  core_dumped: boolean | null
  lifetime_ns: number | null
}
export interface Process {
  id: string
  ts_ns: number
  node: string
  pid: number
  ppid: number | null
  uid: number | null
  comm: string
  filename: string | null
  argv: string[] | string | null
  argv_truncated: boolean | null
  ret: number | null
  exit: ProcessExit | null
}
export interface OpensAnswer {
  window: Window
  comms: { comm: string; opens: number; errors: number }[]
  paths: { path: string; opens: number; errors: number }[]
}
export interface SchedComm {
  comm: string
  switches: number
  voluntary: number
  involuntary: number
  offcpu_ns: number
  runq_ns: number
}
export interface SchedPoint {
  ts_ns: number
  comm: string
  switches: number
  offcpu_ns: number
  runq_ns: number
}
export interface SchedAnswer {
  window: Window
  step_ns: number
  comms: SchedComm[]
  series: SchedPoint[]
}
export type SyscallSort = 'count' | 'time' | 'errors'
export interface Syscall {
  name: string
  count: number
  errors: number
  total_ns: number
}
export interface TcpConn {
  id: string
  ts_ns: number
  node: string
  pid: number
  comm: string
  op: string | null
  family: string | null
  saddr: string | null
  sport: number | null
  daddr: string | null
  dport: number | null
  error: boolean | null
  handshake_ns: number | null
  duration_ns: number | null
  rx_bytes: number | null
  tx_bytes: number | null
}
interface Page<T> {
  window: Window
  items: T[]
  next_cursor: string | null
}

// ---- pure helpers (unit tested) ------------------------------------------------------------

export interface TreeRow {
  p: Process
  depth: number
  children: number
  // The same pid exec'd again (an exec without a fork): shown under the exec it replaced.
  reexec: boolean
}

// The execs as a tree: a process goes under the latest earlier exec of its parent pid on the
// same node (or of its own pid, when it exec'd again); the others are roots. Depth-first, each
// level oldest first.
export function processTree(items: Process[]): TreeRow[] {
  const sorted = items
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.ts_ns - b.p.ts_ns || a.i - b.i)
    .map((x) => x.p)
  const latest = new Map<string, Process>() // node/pid -> its latest exec so far
  const parentOf = new Map<Process, Process>()
  const reexec = new Set<Process>()
  for (const p of sorted) {
    const same = latest.get(`${p.node}/${p.pid}`)
    const parent = same ?? (p.ppid !== null ? latest.get(`${p.node}/${p.ppid}`) : undefined)
    if (parent && parent !== p) {
      parentOf.set(p, parent)
      if (same) reexec.add(p)
    }
    latest.set(`${p.node}/${p.pid}`, p)
  }
  const children = new Map<Process, Process[]>()
  const roots: Process[] = []
  for (const p of sorted) {
    const parent = parentOf.get(p)
    if (!parent) roots.push(p)
    else {
      const list = children.get(parent) ?? []
      list.push(p)
      children.set(parent, list)
    }
  }
  const out: TreeRow[] = []
  const walk = (p: Process, depth: number) => {
    const kids = children.get(p) ?? []
    out.push({ p, depth, children: kids.length, reexec: reexec.has(p) })
    for (const k of kids) walk(k, depth + 1)
  }
  for (const r of roots) walk(r, 0)
  return out
}

// The rows left to show when the subtrees under `collapsed` (process ids) are folded away.
export function visibleRows(rows: TreeRow[], collapsed: ReadonlySet<string>): TreeRow[] {
  const out: TreeRow[] = []
  let hideBelow = Infinity // rows deeper than this are inside a folded subtree
  for (const r of rows) {
    if (r.depth > hideBelow) continue
    hideBelow = collapsed.has(r.p.id) && r.children ? r.depth : Infinity
    out.push(r)
  }
  return out
}

// A process's command line: argv joined (quoted where a word has a space), or its file name.
export function argvText(p: Pick<Process, 'argv' | 'argv_truncated' | 'filename' | 'comm'>): string {
  let words: string[]
  if (Array.isArray(p.argv)) words = p.argv
  else if (typeof p.argv === 'string' && p.argv) return p.argv + (p.argv_truncated ? ' …' : '')
  else words = []
  if (!words.length) return p.filename ?? p.comm
  const text = words.map((w) => (w === '' || /[\s'"]/.test(w) ? `'${w.replace(/'/g, `'\\''`)}'` : w)).join(' ')
  return p.argv_truncated ? `${text} …` : text
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE',
  9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM',
}

// How a process ended: "0", "exit 1", "SIGKILL", "SIGSEGV (core)"; "running" before its exit.
export function exitLabel(e: ProcessExit | null): { text: string; kind: 'ok' | 'fail' | 'running' } {
  if (!e) return { text: 'running', kind: 'running' }
  if (e.signal) {
    const name = SIGNALS[e.signal] ?? `signal ${e.signal}`
    return { text: e.core_dumped ? `${name} (core)` : name, kind: 'fail' }
  }
  if (e.exit_code === null) return { text: 'exited', kind: 'ok' }
  return { text: String(e.exit_code), kind: e.exit_code === 0 ? 'ok' : 'fail' }
}

export type SchedMetric = 'switches' | 'offcpu_ns' | 'runq_ns'

// sched's rows as one series per comm over every bucket of the window (0 where a comm had
// nothing), per second: switches/s, or off-CPU / run-queue time per second of wall time.
export function schedSeries(
  rows: SchedPoint[],
  metric: SchedMetric,
  stepNs: number,
  win: Window,
): { comm: string; points: [number, number][] }[] {
  if (!stepNs || stepNs <= 0) return []
  const comms = [...new Set(rows.map((r) => r.comm))]
  const first = Math.floor(win.from_ns / stepNs) * stepNs
  const buckets: number[] = []
  for (let t = first; t < win.to_ns && buckets.length < 2000; t += stepNs) buckets.push(t)
  const perSecond = 1e9 / stepNs
  return comms.map((comm) => {
    const at = new Map<number, number>()
    for (const r of rows)
      if (r.comm === comm) {
        const b = Math.round((r.ts_ns - first) / stepNs)
        at.set(b, (at.get(b) ?? 0) + r[metric])
      }
    return { comm, points: buckets.map((t, i) => [t / 1e6, (at.get(i) ?? 0) * perSecond] as [number, number]) }
  })
}

// "10.0.0.2:443", "[::1]:8080"; "—" with no address.
export function endpoint(addr: string | null, port: number | null): string {
  if (!addr) return '—'
  const host = addr.includes(':') ? `[${addr}]` : addr
  return port === null || port === undefined ? host : `${host}:${port}`
}

// ---- the store -----------------------------------------------------------------------------

interface Panel<T> {
  data: T | null
  loading: boolean
  error: unknown
}
function panel<T>(): Panel<T> {
  return { data: null, loading: false, error: null }
}

export const useHost = defineStore('host', {
  state: () => ({
    processes: panel<Page<Process>>(),
    moreProcesses: false,
    opens: panel<OpensAnswer>(),
    sched: panel<SchedAnswer>(),
    syscalls: panel<{ window: Window; sort: SyscallSort; syscalls: Syscall[] }>(),
    syscallSort: 'count' as SyscallSort,
    tcp: panel<Page<TcpConn>>(),
    moreTcp: false,
    // Answers of an older filter that arrive late are dropped.
    generation: 0,
  }),
  actions: {
    async fetchInto<T>(p: Panel<T>, path: string, gen: number) {
      p.loading = true
      try {
        const data = await useAuth().call<T>(path)
        if (gen !== this.generation) return
        p.data = data
        p.error = null
      } catch (e) {
        if (gen !== this.generation) return
        p.error = e
      } finally {
        if (gen === this.generation) p.loading = false
      }
    },
    async load(f: Filters) {
      const gen = ++this.generation
      await Promise.all([
        this.fetchInto(this.processes, `/api/v1/query/host/processes?${apiQuery(f, { limit: 500 })}`, gen),
        this.fetchInto(this.opens, `/api/v1/query/host/opens?${apiQuery(f, { limit: 25 })}`, gen),
        this.fetchInto(this.sched, `/api/v1/query/host/sched?${apiQuery(f, { limit: 8 })}`, gen),
        this.fetchInto(this.syscalls, this.syscallsPath(f), gen),
        this.fetchInto(this.tcp, `/api/v1/query/host/tcp?${apiQuery(f, { limit: 100 })}`, gen),
      ])
    },
    syscallsPath(f: Filters): string {
      return `/api/v1/query/host/syscalls?${apiQuery(f, { limit: 20, sort: this.syscallSort })}`
    },
    async sortSyscalls(f: Filters, sort: SyscallSort) {
      this.syscallSort = sort
      await this.fetchInto(this.syscalls, this.syscallsPath(f), this.generation)
    },
    async moreOf<T>(which: 'processes' | 'tcp', f: Filters) {
      const p = this[which] as unknown as Panel<Page<T>>
      const cursor = p.data?.next_cursor
      if (!cursor) return
      const flag = which === 'processes' ? 'moreProcesses' : 'moreTcp'
      const gen = this.generation
      this[flag] = true
      try {
        const limit = which === 'processes' ? 500 : 100
        const r = await useAuth().call<Page<T>>(`/api/v1/query/host/${which}?${apiQuery(f, { limit, cursor })}`)
        if (gen !== this.generation || !p.data) return
        p.data = { ...p.data, items: [...p.data.items, ...r.items], next_cursor: r.next_cursor }
      } catch (e) {
        if (gen === this.generation) p.error = e
      } finally {
        this[flag] = false
      }
    },
  },
})
