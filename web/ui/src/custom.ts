// A custom time range: an absolute window [from, to) in Unix ms. In the URL as ?from=&to=, each
// ISO 8601 (what the UI writes: 2026-12-07T20:04:13Z, ms where there are some) or Unix ms; Unix
// ns (19 digits, the API's form) and local times without a zone are read too.

export interface Custom {
  from: number
  to: number
}

// The API answers at most 31 days at once.
export const MAX_WINDOW_MS = 31 * 86400_000
// Shorter than this is a slip of the mouse, not a range.
export const MIN_WINDOW_MS = 1000

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/

// One end: Unix ms, Unix ns or an ISO date-time; NaN when it is none of them.
export function parseInstant(s: string): number {
  s = s.trim()
  if (/^\d{1,19}$/.test(s)) {
    // Past 1e15 ms (the year 33658) it can only be ns.
    const n = Number(s)
    return n >= 1e15 ? Math.floor(n / 1e6) : n
  }
  if (!ISO.test(s)) return NaN
  // Date.parse reads ms at most: cut finer fractions.
  return Date.parse(s.replace(/(\.\d{3})\d+/, '$1'))
}

// from/to of a URL: a window, or undefined when either is missing or wrong, or they are not
// in order, or the window is longer than the API allows.
export function parseCustom(from: string, to: string): Custom | undefined {
  if (!from || !to) return undefined
  const f = parseInstant(from)
  const t = parseInstant(to)
  if (!Number.isFinite(f) || !Number.isFinite(t) || f < 0 || t - f < MIN_WINDOW_MS || t - f > MAX_WINDOW_MS) return undefined
  return { from: f, to: t }
}

// One end for the URL: ISO in UTC, whole ms, no ".000".
export function formatInstant(ms: number): string {
  return new Date(Math.round(ms)).toISOString().replace('.000Z', 'Z')
}

export function customQuery(c: Custom): { from: string; to: string } {
  return { from: formatInstant(c.from), to: formatInstant(c.to) }
}

// <input type=datetime-local step=1>'s value in local time: YYYY-MM-DDTHH:mm:ss.
export function toLocalInput(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

// Its value back (local time, seconds optional); NaN when empty or wrong.
export function fromLocalInput(s: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(s)) return NaN
  return new Date(s).getTime()
}

// What the range button says: "Dec 7 20:04:13 → 20:09:13" (the day once when both ends share it).
export function formatCustom(c: Custom): string {
  const a = new Date(c.from)
  const b = new Date(c.to)
  const day = (d: Date) => d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
  const time = (d: Date) => d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
  const sameDay = a.toDateString() === b.toDateString()
  return `${day(a)} ${time(a)} → ${sameDay ? '' : `${day(b)} `}${time(b)}`
}

// A brushed span of a chart's time axis (ms, either order) as a range: whole seconds outward so
// that the URL stays short; undefined when too short to mean anything.
export function brushed(a: number, b: number): Custom | undefined {
  const from = Math.floor(Math.min(a, b) / 1000) * 1000
  const to = Math.ceil(Math.max(a, b) / 1000) * 1000
  if (!Number.isFinite(from) || !Number.isFinite(to) || to - from < MIN_WINDOW_MS || to - from > MAX_WINDOW_MS) return undefined
  return { from, to }
}
