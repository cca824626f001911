import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { formatBandwidth, formatPercent } from './format'
import {
  binaryTicks,
  windowAxis,
  copyDirections,
  copyKindLabel,
  copySeries,
  leakTotals,
  memoryRows,
  memorySeries,
  modelOf,
  stallBuckets,
  tokenSeries,
  type Copies,
  type Memory,
  type ProcessMemory,
} from './resources'
import { useAuth } from './stores/auth'
import { useLlm } from './stores/llm'
import { useCudaResources } from './stores/cudaResources'

const win = { from_ns: 10e9, to_ns: 25e9 }
function proc(over: Partial<ProcessMemory>): ProcessMemory {
  return {
    node: 'n1',
    pid: 1,
    comm: 'p',
    bytes: 0,
    peak_bytes: 0,
    outstanding_count: 0,
    outstanding: [],
    exited: false,
    leaked_bytes: 0,
    series: [],
    ...over,
  }
}

describe('formatBandwidth and formatPercent', () => {
  it('reads as people read them', () => {
    expect(formatBandwidth(512)).toBe('512 B/s')
    expect(formatBandwidth(1.5 * 1024 ** 3)).toBe('1.5 GiB/s')
    expect(formatBandwidth(null)).toBe('—')
    expect(formatPercent(0.4213)).toBe('42.1 %')
    expect(formatPercent(1)).toBe('100 %')
    expect(formatPercent(0.00012)).toBe('0.01 %')
    expect(formatPercent(null)).toBe('—')
  })
})

describe('memory', () => {
  const m: Memory = {
    window: win,
    step_ns: 5e9,
    complete: true,
    processes: [
      proc({ pid: 1, comm: 'big', peak_bytes: 100, bytes: 10, series: [{ ts_ns: 10e9, bytes: 100 }, { ts_ns: 15e9, bytes: 10 }] }),
      proc({
        pid: 2,
        comm: 'leaky',
        peak_bytes: 50,
        bytes: 30,
        exited: true,
        leaked_bytes: 30,
        outstanding_count: 2,
        series: [
          { ts_ns: 10e9, bytes: 50 },
          { ts_ns: 15e9, bytes: 30 },
          { ts_ns: 20e9, bytes: 0 },
        ],
      }),
      proc({ pid: 3, comm: 'clean', peak_bytes: 70, exited: true }),
    ],
  }
  it('marks the leak at the last bucket the process held memory in', () => {
    const s = memorySeries(m)
    expect(s.map((x) => x.label)).toEqual(['big 1', 'leaky 2', 'clean 3'])
    expect(s[0].leak).toBeNull()
    expect(s[1].points).toEqual([
      [10_000, 50],
      [15_000, 30],
      [20_000, 0],
    ])
    expect(s[1].leak).toEqual([15_000, 30])
    expect(s[2].leak).toBeNull()
  })
  it('puts leaks first, then the largest peaks, and sums them', () => {
    expect(memoryRows(m).map((p) => p.pid)).toEqual([2, 1, 3])
    expect(memoryRows(null)).toEqual([])
    expect(leakTotals(m)).toEqual({ processes: 1, allocations: 2, bytes: 30 })
  })
  it('names processes with their node when there are several nodes', () => {
    const two = { ...m, processes: [proc({ node: 'a' }), proc({ node: 'b', pid: 2 })] }
    expect(memorySeries(two).map((x) => x.label)).toEqual(['p 1 @a', 'p 2 @b'])
  })
})

describe('axes', () => {
  it('steps byte axes in powers of two', () => {
    expect(binaryTicks(208 * 1024)).toEqual({ interval: 64 * 1024, max: 256 * 1024 })
    expect(binaryTicks(3 * 1024 * 1024)).toEqual({ interval: 1024 * 1024, max: 3 * 1024 * 1024 })
    expect(binaryTicks(3)).toEqual({ interval: 1, max: 3 })
    expect(binaryTicks(0)).toEqual({})
  })
  it('spans the window answered', () => {
    expect(windowAxis(win)).toEqual({ type: 'time', min: 10_000, max: 25_000 })
    expect(windowAxis(null)).toEqual({ type: 'time' })
  })
})

describe('copies and syncs', () => {
  const c: Copies = {
    window: win,
    step_ns: 5e9,
    directions: [
      { kind: 'default', copies: 1, bytes: 4096, duration_ns: 1000, bytes_per_s: 4.096e9 },
      { kind: 'dtoh', copies: 2, bytes: 8192, duration_ns: 1000, bytes_per_s: null },
      { kind: 'htod', copies: 4, bytes: 100, duration_ns: 0, bytes_per_s: null },
    ],
    series: [
      { ts_ns: 10e9, kind: 'htod', copies: 4, bytes: 100, bytes_per_s: null },
      { ts_ns: 20e9 + 3, kind: 'dtoh', copies: 2, bytes: 8192, bytes_per_s: null },
    ],
  }
  it('orders directions host to device first and names them', () => {
    expect(copyDirections(c).map((d) => d.kind)).toEqual(['htod', 'dtoh', 'default'])
    expect(copyKindLabel('htod')).toBe('Host → device')
    expect(copyKindLabel('weird')).toBe('weird')
    expect(copyDirections(null)).toEqual([])
  })
  it('spreads bytes per bucket over the bucket, 0 where nothing was copied', () => {
    const s = copySeries(c)
    expect(s.map((x) => x.kind)).toEqual(['htod', 'dtoh', 'default'])
    expect(s[0].points).toEqual([
      [10_000, 20],
      [15_000, 0],
      [20_000, 0],
    ])
    expect(s[1].points[2]).toEqual([20_000, 8192 / 5])
  })
  it('labels stall buckets by their bounds', () => {
    const b = stallBuckets({
      window: win,
      count: 6,
      total_ns: 1,
      max_ns: 1,
      buckets: [
        { lt_ns: 1000, count: 1 },
        { lt_ns: 10_000, count: 2 },
        { lt_ns: null, count: 3 },
      ],
    })
    expect(b).toEqual([
      { label: '< 1 µs', count: 1 },
      { label: '1 µs – 10 µs', count: 2 },
      { label: '≥ 10 µs', count: 3 },
    ])
  })
})

describe('llm helpers', () => {
  it('leaves a gap where a phase decoded nothing', () => {
    const s = tokenSeries({
      window: win,
      step_ns: 5e9,
      prompt_tokens: 37,
      generation_tokens: 11,
      prompt_tokens_per_s: 1000,
      generation_tokens_per_s: 50,
      series: [
        { ts_ns: 10e9, prompt_tokens: 37, generation_tokens: 0, prompt_tokens_per_s: 1000, generation_tokens_per_s: null },
        { ts_ns: 15e9, prompt_tokens: 0, generation_tokens: 11, prompt_tokens_per_s: null, generation_tokens_per_s: 50 },
      ],
    })
    expect(s.prompt).toEqual([
      [10_000, 1000],
      [15_000, null],
    ])
    expect(s.generation).toEqual([
      [10_000, null],
      [15_000, 50],
    ])
  })
  it('finds the model on a command line', () => {
    expect(modelOf(['/usr/bin/node', '/x/runner.mjs', '/x/tiny.gguf', '--tokens', '12'])).toBe('tiny.gguf')
    expect(modelOf(['llama-server', '-m', '/models/qwen.Q4.gguf'])).toBe('qwen.Q4.gguf')
    expect(modelOf(['ollama', 'runner', '--model=/blobs/sha256-abc'])).toBe('sha256-abc')
    expect(modelOf('llama-cli -m m.gguf')).toBe('m.gguf')
    expect(modelOf(['python3', 'serve.py'])).toBeNull()
    expect(modelOf(null)).toBeNull()
  })
})

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
}
const decode0 = {
  window: win,
  complete: true,
  decodes: 0,
  decode_p50_ns: null,
  decode_p99_ns: null,
  requests: 0,
  ttft_p50_ns: null,
  ttft_p99_ns: null,
  graph_computes: 0,
  graph_ns: 0,
  decode_span_ns: 0,
  graph_share: null,
}
const tokens0 = { window: win, step_ns: 5e9, prompt_tokens: 0, generation_tokens: 0, prompt_tokens_per_s: null, generation_tokens_per_s: null, series: [] }

describe('llm and cuda resource stores', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers() // the access token's renewal timer
    useAuth().accept({
      access_token: 'a',
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: 'r',
      user: { id: 1, name: 'ana', role: 'viewer', created_ns: 1 },
    })
  })
  afterEach(() => {
    vi.clearAllTimers()
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('asks each ggml process on its own, keeps those that decoded, and reads their model', async () => {
    const urls: string[] = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        urls.push(url)
        const q = new URLSearchParams(url.split('?')[1])
        const pid = q.get('pid')
        if (url.startsWith('/api/v1/query/llm/memory'))
          return json({ window: win, step_ns: 5e9, complete: true, processes: [proc({ pid: 7, comm: 'node' }), proc({ pid: 8, comm: 'ggml_alloc' })] })
        if (url.startsWith('/api/v1/query/llm/decode')) return json(pid === '7' || !pid ? { ...decode0, decodes: 28, requests: 2 } : decode0)
        if (url.startsWith('/api/v1/query/llm/tokens')) return json(pid === '7' || !pid ? { ...tokens0, prompt_tokens: 74 } : tokens0)
        if (url.startsWith('/api/v1/query/host/processes'))
          return json({ window: win, next_cursor: null, items: pid === '7' ? [{ argv: ['node', 'runner.mjs', '/t/tiny.gguf'] }] : [] })
        throw new Error('unexpected ' + url)
      }),
    )
    const llm = useLlm()
    await llm.load({ range: '5m', node: '', pid: '', comm: 'node' })
    expect(llm.error).toBeNull()
    expect(llm.decode?.decodes).toBe(28)
    expect(llm.empty).toBe(false)
    expect(llm.processes.map((p) => [p.pid, p.model, p.decode.decodes, p.tokens.prompt_tokens])).toEqual([[7, 'tiny.gguf', 28, 74]])
    // Every call keeps the page's filters; a process's own adds its node and pid.
    expect(urls.every((u) => u.includes('from=5m') && u.includes('comm=node'))).toBe(true)
    expect(urls).toContain('/api/v1/query/llm/decode?from=5m&node=n1&pid=7&comm=node')
  })

  it('says empty when nothing of llama.cpp or ggml was seen', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        if (url.startsWith('/api/v1/query/llm/memory')) return json({ window: win, step_ns: 5e9, complete: true, processes: [] })
        return json(url.includes('decode') ? decode0 : tokens0)
      }),
    )
    const llm = useLlm()
    await llm.load({ range: '1h', node: '', pid: '', comm: '' })
    expect(llm.empty).toBe(true)
    expect(llm.processes).toEqual([])
  })

  it('keeps the newest filter answer when an older one comes back late', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        const slow = url.includes('from=1d')
        if (slow) await gate
        const count = slow ? 1 : 2
        if (url.includes('/memory')) return json({ window: win, step_ns: 5e9, complete: true, processes: [] })
        if (url.includes('/copies')) return json({ window: win, step_ns: 5e9, directions: [], series: [] })
        return json({ window: win, count, total_ns: 0, max_ns: 0, buckets: [] })
      }),
    )
    const cuda = useCudaResources()
    const old = cuda.load({ range: '24h', node: '', pid: '', comm: '' })
    await cuda.load({ range: '5m', node: '', pid: '', comm: '' })
    release()
    await old
    expect(cuda.syncs?.count).toBe(2)
    expect(cuda.loading).toBe(false)
  })
})
