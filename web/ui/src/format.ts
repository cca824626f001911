// Formatting helpers: numbers from the API (ns, bytes, rates) as people read them.

// A duration in nanoseconds: "0 ns", "812 ns", "3.4 µs", "12 ms", "1.50 s", "2 m 5 s", "3 h 2 m".
export function formatDuration(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '—'
  if (ns < 0) return '-' + formatDuration(-ns)
  if (ns < 1e3) return `${Math.round(ns)} ns`
  if (ns < 1e6) return `${trim(ns / 1e3)} µs`
  if (ns < 1e9) return `${trim(ns / 1e6)} ms`
  const s = ns / 1e9
  if (s < 60) return `${s.toFixed(2)} s`
  const totalS = Math.round(s)
  if (totalS < 3600) return `${Math.floor(totalS / 60)} m ${totalS % 60} s`
  if (totalS < 86400) return `${Math.floor(totalS / 3600)} h ${Math.floor((totalS % 3600) / 60)} m`
  return `${Math.floor(totalS / 86400)} d ${Math.floor((totalS % 86400) / 3600)} h`
}

// Three significant digits at most, no trailing zeros: 3.40 -> "3.4", 123.4 -> "123".
function trim(v: number): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2
  return String(Number(v.toFixed(digits)))
}

// Bytes in binary units: "512 B", "1.5 KiB", "3 GiB".
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = Math.abs(bytes)
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const sign = bytes < 0 ? '-' : ''
  return i === 0 ? `${sign}${v} B` : `${sign}${trim(v)} ${units[i]}`
}

// A count with a k/M/G suffix past 10 000: 950 -> "950", 12 345 -> "12.3 k".
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  const a = Math.abs(n)
  if (a < 10000) return Number.isInteger(n) ? n.toLocaleString('en-US') : trim(n)
  if (a < 1e6) return `${trim(n / 1e3)} k`
  if (a < 1e9) return `${trim(n / 1e6)} M`
  return `${trim(n / 1e9)} G`
}

// A rate per second: "0/s", "3.2/s", "12.3 k/s".
export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return '—'
  return `${formatCount(perSecond)}/s`
}

// How long ago `ns` was, seen from `nowNs`: "just now", "42 s ago", "5 m ago", "3 h ago", "2 d ago".
export function formatAgo(ns: number | null | undefined, nowNs: number): string {
  if (!ns) return '—'
  const s = Math.floor((nowNs - ns) / 1e9)
  if (s < 2) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} m ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

// Unix ns as local wall time, "2026-12-07 14:36:18" (with ".123" when `millis`).
export function formatTime(ns: number | null | undefined, millis = false): string {
  if (!ns) return '—'
  const d = new Date(ns / 1e6)
  const p = (v: number, w = 2) => String(v).padStart(w, '0')
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  return millis ? `${base}.${p(d.getMilliseconds(), 3)}` : base
}

// A launch's grid or block: [x, y, z] -> "128×1×1"; the API may send a string or null.
export function formatDim(v: number[] | string | null | undefined): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'string') return v
  return v.join('×')
}

// A demangled C++ kernel name without its argument list, for charts and tables:
// "void gemm<float>(float const*, int)" -> "gemm<float>"; "" -> "(unknown)".
export function shortKernel(name: string | null | undefined, max = 60): string {
  if (!name) return '(unknown kernel)'
  let s = name.trim()
  if (s.startsWith('void ')) s = s.slice(5)
  // Cut at the '(' of the argument list: the first '(' outside template brackets.
  let depth = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '<') depth++
    else if (c === '>') depth = Math.max(0, depth - 1)
    else if (c === '(' && depth === 0 && i > 0) {
      s = s.slice(0, i)
      break
    }
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}

// Bytes per second in binary units: "812 B/s", "1.5 GiB/s"; null (no timed copy): "—".
export function formatBandwidth(bytesPerS: number | null | undefined): string {
  if (bytesPerS === null || bytesPerS === undefined || !Number.isFinite(bytesPerS)) return '—'
  if (bytesPerS < 1024) return `${trim(bytesPerS)} B/s`
  return `${formatBytes(bytesPerS)}/s`
}

// A share (0..1) as a percentage: 0.4213 -> "42.1 %", 0.00012 -> "0.01 %"; null: "—".
export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—'
  return `${trim(share * 100)} %`
}
