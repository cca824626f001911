// The answers of the memory, copy, sync and LLM queries (docs/api/openapi.json) and the plain
// helpers that turn them into chart series and table rows (unit-tested in resources.test.ts).
import { formatBytes, formatDuration } from './format'

export interface Window {
  from_ns: number
  to_ns: number
}

// /query/cuda/memory and /query/llm/memory.
export interface Outstanding {
  ptr: string
  bytes: number
  ts_ns: number
}
export interface ProcessMemory {
  node: string
  pid: number
  comm: string
  bytes: number
  peak_bytes: number
  outstanding_count: number
  outstanding: Outstanding[]
  exited: boolean
  leaked_bytes: number
  series: { ts_ns: number; bytes: number }[]
}
export interface Memory {
  window: Window
  step_ns: number
  complete: boolean
  processes: ProcessMemory[]
}

// /query/cuda/copies.
export interface CopyDirection {
  kind: string
  copies: number
  bytes: number
  duration_ns: number
  bytes_per_s: number | null
}
export interface Copies {
  window: Window
  step_ns: number
  directions: CopyDirection[]
  series: { ts_ns: number; kind: string; copies: number; bytes: number; bytes_per_s: number | null }[]
}

// /query/cuda/syncs.
export interface Syncs {
  window: Window
  count: number
  total_ns: number
  max_ns: number
  buckets: { lt_ns: number | null; count: number }[]
}

// /query/llm/tokens.
export interface TokenRates {
  window: Window
  step_ns: number
  prompt_tokens: number
  generation_tokens: number
  prompt_tokens_per_s: number | null
  generation_tokens_per_s: number | null
  series: {
    ts_ns: number
    prompt_tokens: number
    generation_tokens: number
    prompt_tokens_per_s: number | null
    generation_tokens_per_s: number | null
  }[]
}

// /query/llm/decode.
export interface Decode {
  window: Window
  complete: boolean
  decodes: number
  decode_p50_ns: number | null
  decode_p99_ns: number | null
  requests: number
  ttft_p50_ns: number | null
  ttft_p99_ns: number | null
  graph_computes: number
  graph_ns: number
  decode_span_ns: number
  graph_share: number | null
}

// A process as the tables and legends name it: "comm 1234", with the node where there are several.
export function processLabel(p: { node: string; pid: number; comm: string }, withNode = false): string {
  const base = `${p.comm || '?'} ${p.pid}`
  return withNode ? `${base} @${p.node}` : base
}

// The key of a process across answers.
export function processKey(p: { node: string; pid: number }): string {
  return `${p.node}/${p.pid}`
}

// Whether a process's outstanding memory is a leak: it exited holding it.
export function leaked(p: ProcessMemory): boolean {
  return p.exited && p.leaked_bytes > 0
}

// One line series per process (x in ms for ECharts' time axis), and where a process leaked the
// point at its last bucket to mark it.
export function memorySeries(m: Memory): { key: string; label: string; points: [number, number][]; leak: [number, number] | null }[] {
  const withNode = new Set(m.processes.map((p) => p.node)).size > 1
  return m.processes.map((p) => {
    const points = p.series.map((s) => [s.ts_ns / 1e6, s.bytes] as [number, number])
    // The leak shows where the process last held memory: its last bucket with any in use.
    let leak: [number, number] | null = null
    if (leaked(p)) {
      const held = points.filter((pt) => pt[1] > 0)
      leak = held.length ? held[held.length - 1] : points.length ? points[points.length - 1] : null
    }
    return { key: processKey(p), label: processLabel(p, withNode), points, leak }
  })
}

// The memory answer's processes, leaks first, then by peak.
export function memoryRows(m: Memory | null): ProcessMemory[] {
  if (!m) return []
  return [...m.processes].sort((a, b) => Number(leaked(b)) - Number(leaked(a)) || b.peak_bytes - a.peak_bytes)
}

// Leaks over all processes: how many processes, allocations and bytes.
export function leakTotals(m: Memory | null): { processes: number; allocations: number; bytes: number } {
  const out = { processes: 0, allocations: 0, bytes: 0 }
  for (const p of m?.processes ?? [])
    if (leaked(p)) {
      out.processes++
      out.allocations += p.outstanding_count
      out.bytes += p.leaked_bytes
    }
  return out
}

// Copy directions in a fixed order, with names people read.
export const COPY_KINDS = ['htod', 'dtoh', 'dtod', 'htoh', 'default'] as const
const KIND_LABEL: Record<string, string> = {
  htod: 'Host → device',
  dtoh: 'Device → host',
  dtod: 'Device → device',
  htoh: 'Host → host',
  default: 'Default (inferred)',
}
export function copyKindLabel(kind: string): string {
  return KIND_LABEL[kind] ?? kind
}
export function copyDirections(c: Copies | null): CopyDirection[] {
  const rank = (k: string) => {
    const i = (COPY_KINDS as readonly string[]).indexOf(k)
    return i < 0 ? COPY_KINDS.length : i
  }
  return [...(c?.directions ?? [])].sort((a, b) => rank(a.kind) - rank(b.kind) || a.kind.localeCompare(b.kind))
}

// The copies' bytes per second of wall time per bucket and direction (what moved, not the
// copies' own bandwidth, which the table gives), 0 in buckets without a copy.
export function copySeries(c: Copies): { kind: string; points: [number, number][] }[] {
  if (!c.step_ns || c.step_ns <= 0) return []
  const first = Math.floor(c.window.from_ns / c.step_ns) * c.step_ns
  const buckets: number[] = []
  for (let t = first; t < c.window.to_ns && buckets.length < 2000; t += c.step_ns) buckets.push(t)
  const perSecond = 1e9 / c.step_ns
  return copyDirections(c).map(({ kind }) => {
    const at = new Map<number, number>()
    for (const s of c.series)
      if (s.kind === kind) {
        // The bucket of the grid nearest the API's start (a float's rounding aside, the same).
        const b = first + Math.round((s.ts_ns - first) / c.step_ns) * c.step_ns
        at.set(b, (at.get(b) ?? 0) + s.bytes)
      }
    return { kind, points: buckets.map((t) => [t / 1e6, (at.get(t) ?? 0) * perSecond] as [number, number]) }
  })
}

// A stall bucket's label from its bound and the previous one: "< 1 µs", "1 µs – 10 µs", "≥ 1.00 s".
export function stallLabel(lt: number | null, prev: number | null): string {
  if (lt === null) return prev === null ? 'all' : `≥ ${formatDuration(prev)}`
  if (prev === null) return `< ${formatDuration(lt)}`
  return `${formatDuration(prev)} – ${formatDuration(lt)}`
}
export function stallBuckets(s: Syncs | null): { label: string; count: number }[] {
  const out: { label: string; count: number }[] = []
  let prev: number | null = null
  for (const b of s?.buckets ?? []) {
    out.push({ label: stallLabel(b.lt_ns, prev), count: b.count })
    prev = b.lt_ns
  }
  return out
}

// Tokens per second per phase over the window, a point per bucket with tokens (null elsewhere:
// a gap, not a fall to zero, where nothing was decoded).
export function tokenSeries(t: TokenRates): { prompt: [number, number | null][]; generation: [number, number | null][] } {
  const prompt: [number, number | null][] = []
  const generation: [number, number | null][] = []
  for (const s of t.series) {
    prompt.push([s.ts_ns / 1e6, s.prompt_tokens > 0 ? s.prompt_tokens_per_s : null])
    generation.push([s.ts_ns / 1e6, s.generation_tokens > 0 ? s.generation_tokens_per_s : null])
  }
  return { prompt, generation }
}

// "3 MiB in 1 allocation" for a leak or what is outstanding.
export function heldText(bytes: number, count: number): string {
  return `${formatBytes(bytes)} in ${count} allocation${count === 1 ? '' : 's'}`
}

// The model a process was started with, read from its command line: the file after -m/--model,
// else the first argument naming a .gguf file; its base name. null when the command line was not
// seen (no exec event in the range) or names none.
export function modelOf(argv: string[] | string | null | undefined): string | null {
  if (!argv) return null
  const args = typeof argv === 'string' ? argv.split(/\s+/) : argv
  let path: string | undefined
  for (let i = 0; i < args.length && !path; i++) {
    const a = args[i]
    if ((a === '-m' || a === '--model') && i + 1 < args.length) path = args[i + 1]
    else if (a.startsWith('--model=')) path = a.slice(8)
  }
  path ??= args.slice(1).find((a) => /\.gguf$/i.test(a))
  if (!path) return null
  return path.split('/').pop() || path
}

// A time axis over the whole window answered (ECharts would otherwise span a lone point by days).
export function windowAxis(w: Window | null | undefined): Record<string, unknown> {
  return w ? { type: 'time', min: w.from_ns / 1e6, max: w.to_ns / 1e6 } : { type: 'time' }
}

// A byte axis's ticks in binary steps (a power of two): "0, 64 KiB, 128 KiB", not "0, 48.8 KiB,
// 97.7 KiB"; about `ticks` of them up to `max`, the top a whole number of steps. Spread into
// ECharts' yAxis ({} for an empty axis: ECharts picks).
export function binaryTicks(max: number, ticks = 4): { interval?: number; max?: number } {
  if (!Number.isFinite(max) || max <= 0) return {}
  let step = 1
  while (step * ticks < max) step *= 2
  return { interval: step, max: Math.ceil(max / step) * step }
}
