// The Host page in live mode: exec and exit events go into the process list (a new process
// under its parent, an exit onto its process), open events into the opens counts; scheduling,
// syscalls and TCP are asked again on a timer. Opens older than the answer's end are in it
// already and are not counted again; a process already listed (the same id) is not added again.
import { eventId, type LiveEvent } from '../live'
import { useAuth } from './auth'
import { apiQuery, type Filters } from '../filters'
import type { OpensAnswer, Process } from './host'
import type { useHost } from './host'

export const HOST_LIVE_FAMILIES = ['exec', 'open'] as const
// The most processes kept in the list (the oldest go first).
export const MAX_PROCESSES = 2000
// The most paths kept in the opens table.
export const MAX_PATHS = 100

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}
function int(v: unknown): number | null {
  return typeof v === 'number' ? v : null
}

export function processOf(e: LiveEvent): Process | null {
  if (e.event !== 'exec') return null
  return {
    id: eventId(e),
    ts_ns: e.ts_ns,
    node: e.node,
    pid: e.pid,
    ppid: int(e.ppid),
    uid: int(e.uid),
    comm: e.comm,
    filename: str(e.filename),
    argv: Array.isArray(e.argv) ? (e.argv as string[]) : str(e.argv),
    argv_truncated: typeof e.argv_truncated === 'boolean' ? e.argv_truncated : null,
    ret: int(e.ret),
    exit: null,
  }
}

// Processes with the live execs and exits applied (a new array when anything changed).
export function applyProcesses(items: readonly Process[], events: readonly LiveEvent[], max = MAX_PROCESSES): Process[] | null {
  let out: Process[] | null = null
  const ids = new Set(items.map((p) => p.id))
  for (const e of events) {
    if (e.event === 'exec') {
      const p = processOf(e)
      if (!p || ids.has(p.id)) continue
      ids.add(p.id)
      out = out ?? [...items]
      out.push(p)
    } else if (e.event === 'exit') {
      const list = out ?? items
      // The process's latest exec at or before the exit that has no exit yet.
      for (let i = list.length - 1; i >= 0; i--) {
        const p = list[i]
        if (p.node !== e.node || p.pid !== e.pid || p.ts_ns > e.ts_ns) continue
        if (p.exit) break
        out = out ?? [...items]
        out[i] = {
          ...p,
          exit: {
            ts_ns: e.ts_ns,
            exit_code: int(e.exit_code),
            signal: int(e.signal),
            core_dumped: typeof e.core_dumped === 'boolean' ? e.core_dumped : null,
            lifetime_ns: int(e.lifetime_ns),
          },
        }
        break
      }
    }
  }
  if (out && out.length > max) out = out.slice(out.length - max)
  return out
}

type Count = { opens: number; errors: number }
function bump<K extends string>(list: ({ [k in K]: string } & Count)[], key: K, value: string, failed: boolean) {
  let row = list.find((r) => r[key] === value)
  if (!row) {
    row = { [key]: value, opens: 0, errors: 0 } as { [k in K]: string } & Count
    list.push(row)
  }
  row.opens++
  if (failed) row.errors++
}

// The opens answer with the live opens after its end added (a new object when anything changed).
export function applyOpens(a: OpensAnswer, events: readonly LiveEvent[], maxPaths = MAX_PATHS): OpensAnswer | null {
  const fresh = events.filter((e) => e.event === 'open' && e.ts_ns >= a.window.to_ns)
  if (!fresh.length) return null
  const comms = a.comms.map((c) => ({ ...c }))
  const paths = a.paths.map((p) => ({ ...p }))
  for (const e of fresh) {
    const failed = typeof e.ret === 'number' && e.ret < 0
    bump(comms, 'comm', e.comm, failed)
    bump(paths, 'path', str(e.path) ?? '', failed)
  }
  const order = <T extends Count>(x: T, y: T) => y.opens - x.opens
  comms.sort(order)
  paths.sort(order)
  return { ...a, comms, paths: paths.slice(0, Math.max(maxPaths, a.paths.length)) }
}

type Host = ReturnType<typeof useHost>

export function applyHost(store: Host, events: readonly LiveEvent[]) {
  const procs = store.processes.data
  if (procs) {
    const items = applyProcesses(procs.items, events)
    if (items) store.processes.data = { ...procs, items }
  }
  const opens = store.opens.data
  if (opens) {
    const next = applyOpens(opens, events)
    if (next) store.opens.data = next
  }
}

// A panel asked again without its loading state (an empty panel would flash "Loading…").
async function quietly<T>(store: Host, p: { data: T | null; error: unknown }, path: string) {
  const gen = store.generation
  try {
    const data = await useAuth().call<T>(path)
    if (gen !== store.generation) return
    p.data = data
    p.error = null
  } catch (e) {
    if (gen === store.generation) p.error = e
  }
}

// The panels that do not stream, asked again (their data stays shown meanwhile).
export async function refreshHost(store: Host, f: Filters) {
  await Promise.all([
    quietly(store, store.sched, `/api/v1/query/host/sched?${apiQuery(f, { limit: 8 })}`),
    quietly(store, store.syscalls, store.syscallsPath(f)),
    quietly(store, store.tcp, `/api/v1/query/host/tcp?${apiQuery(f, { limit: 100 })}`),
  ])
}
