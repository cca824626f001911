// The time range and the node/pid/comm filters, kept in the URL's query so that a page can be
// shared and reloaded as it was. The range is a preset (?range=5m, the last 5 minutes) or, where
// ?from=&to= are given, a custom absolute window (custom.ts: picked, or brushed on a chart).
import { parseCustom, customQuery, type Custom } from './custom'

export const RANGES = ['5m', '1h', '24h'] as const
export type Range = (typeof RANGES)[number]
// The presets as the range buttons show them.
export const RANGE_OPTIONS = RANGES.map((r) => ({ key: r, label: r === '5m' ? '5 m' : r === '1h' ? '1 h' : '24 h' }))

export interface Filters {
  range: Range
  // Set: this window instead of `range` (which stays the preset to go back to).
  custom?: Custom
  node: string
  pid: string
  comm: string
  // Live mode (live=1): the page follows the live stream (stores/liveMode.ts).
  live?: boolean
}

type Query = Record<string, unknown>

function one(v: unknown): string {
  if (Array.isArray(v)) v = v[0]
  return typeof v === 'string' ? v.trim() : ''
}

export function parseFilters(q: Query): Filters {
  const range = one(q.range)
  const pid = one(q.pid)
  const f: Filters = {
    range: (RANGES as readonly string[]).includes(range) ? (range as Range) : '1h',
    node: one(q.node),
    pid: /^[1-9][0-9]{0,9}$/.test(pid) ? pid : '',
    comm: one(q.comm).slice(0, 15),
    // Only when on: a page's filters without it are what they were before live mode.
    ...(one(q.live) === '1' ? { live: true } : {}),
  }
  const custom = parseCustom(one(q.from), one(q.to))
  if (custom) f.custom = custom
  return f
}

// The query of the page's URL: defaults left out.
export function filtersQuery(f: Filters): Record<string, string> {
  const out: Record<string, string> = {}
  if (f.custom) Object.assign(out, customQuery(f.custom))
  else if (f.range !== '1h') out.range = f.range
  if (f.node) out.node = f.node
  if (f.pid) out.pid = f.pid
  if (f.comm) out.comm = f.comm
  if (f.live) out.live = '1'
  return out
}

// The query API's parameters: from (a duration before now, or with to Unix ns), node, pid, comm,
// and `extra`.
export function apiQuery(f: Filters, extra: Record<string, string | number | undefined> = {}): string {
  const p = new URLSearchParams()
  if (f.custom) {
    p.set('from', msToNs(f.custom.from))
    p.set('to', msToNs(f.custom.to))
  } else p.set('from', f.range === '24h' ? '1d' : f.range)
  if (f.node) p.set('node', f.node)
  if (f.pid) p.set('pid', f.pid)
  if (f.comm) p.set('comm', f.comm)
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') p.set(k, String(v))
  return p.toString()
}

// Unix ms to the API's Unix ns, exactly (a double cannot hold ns since 1970).
function msToNs(ms: number): string {
  return `${Math.max(0, Math.round(ms))}000000`.replace(/^0+(?=\d)/, '')
}
