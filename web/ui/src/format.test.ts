import { describe, expect, it } from 'vitest'
import { formatAgo, formatBytes, formatCount, formatDim, formatDuration, formatRate, shortKernel } from './format'
import { apiQuery, filtersQuery, parseFilters } from './filters'

describe('formatDuration', () => {
  it('picks the unit that reads best', () => {
    expect(formatDuration(0)).toBe('0 ns')
    expect(formatDuration(812)).toBe('812 ns')
    expect(formatDuration(3400)).toBe('3.4 µs')
    expect(formatDuration(12_000_000)).toBe('12 ms')
    expect(formatDuration(1_500_000_000)).toBe('1.50 s')
    expect(formatDuration(125e9)).toBe('2 m 5 s')
    expect(formatDuration(3 * 3600e9 + 120e9)).toBe('3 h 2 m')
    expect(formatDuration(2 * 86400e9 + 3600e9)).toBe('2 d 1 h')
  })
  it('says nothing for missing values', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(undefined)).toBe('—')
    expect(formatDuration(NaN)).toBe('—')
  })
})

describe('formatBytes, formatCount, formatRate', () => {
  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(3 * 1024 ** 3)).toBe('3 GiB')
    expect(formatBytes(null)).toBe('—')
  })
  it('shortens large counts', () => {
    expect(formatCount(950)).toBe('950')
    expect(formatCount(9999)).toBe('9,999')
    expect(formatCount(12_345)).toBe('12.3 k')
    expect(formatCount(4_200_000)).toBe('4.2 M')
    expect(formatCount(2.345)).toBe('2.35')
    expect(formatRate(443.7)).toBe('444/s')
    expect(formatRate(0)).toBe('0/s')
  })
})

describe('formatAgo and formatDim', () => {
  const now = 1_796_654_186_000_000_000
  it('counts back from now', () => {
    expect(formatAgo(now, now)).toBe('just now')
    expect(formatAgo(now - 42e9, now)).toBe('42 s ago')
    expect(formatAgo(now - 300e9, now)).toBe('5 m ago')
    expect(formatAgo(now - 3 * 3600e9, now)).toBe('3 h ago')
    expect(formatAgo(undefined, now)).toBe('—')
  })
  it('joins grids and blocks', () => {
    expect(formatDim([128, 1, 1])).toBe('128×1×1')
    expect(formatDim('(dynamic)')).toBe('(dynamic)')
    expect(formatDim(null)).toBe('—')
  })
})

describe('shortKernel', () => {
  it('drops the return type and the argument list, not template arguments', () => {
    expect(shortKernel('void gemm<float>(float const*, int)')).toBe('gemm<float>')
    expect(shortKernel('softmax_kernel(float*, int)')).toBe('softmax_kernel')
    expect(shortKernel('void op<(anonymous namespace)::F>(int)')).toBe('op<(anonymous namespace)::F>')
    expect(shortKernel('')).toBe('(unknown kernel)')
    expect(shortKernel('a'.repeat(100), 10)).toBe('aaaaaaaaa…')
  })
})

describe('filters in the URL', () => {
  it('keeps valid values and drops the rest', () => {
    expect(parseFilters({})).toEqual({ range: '1h', node: '', pid: '', comm: '' })
    expect(parseFilters({ range: '5m', node: 'gpu-1', pid: '42', comm: 'python3' })).toEqual({
      range: '5m',
      node: 'gpu-1',
      pid: '42',
      comm: 'python3',
    })
    expect(parseFilters({ range: '7y', pid: '-1' })).toEqual({ range: '1h', node: '', pid: '', comm: '' })
    expect(parseFilters({ comm: 'a-very-long-command-name' }).comm).toHaveLength(15)
  })
  it('writes the URL without defaults and the API query with from', () => {
    expect(filtersQuery(parseFilters({ range: '1h', node: 'n' }))).toEqual({ node: 'n' })
    expect(apiQuery(parseFilters({ range: '24h', pid: '7' }), { limit: 50, cursor: undefined })).toBe(
      'from=1d&pid=7&limit=50',
    )
  })
})
