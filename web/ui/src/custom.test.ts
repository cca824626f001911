import { describe, expect, it } from 'vitest'
import { brushed, customQuery, formatInstant, fromLocalInput, parseCustom, parseInstant, toLocalInput } from './custom'
import { apiQuery, filtersQuery, parseFilters } from './filters'

const from = Date.UTC(2026, 11, 7, 20, 4, 13) // 2026-12-07T20:04:13Z
const to = from + 5 * 60_000

describe('custom range: parsing', () => {
  it('reads ISO, Unix ms and Unix ns ends', () => {
    expect(parseInstant('2026-12-07T20:04:13Z')).toBe(from)
    expect(parseInstant('2026-12-07T21:04:13+01:00')).toBe(from)
    expect(parseInstant('2026-12-07T20:04:13.250Z')).toBe(from + 250)
    expect(parseInstant('2026-12-07T20:04:13.250999999Z')).toBe(from + 250) // finer than ms: cut
    expect(parseInstant(String(from))).toBe(from)
    expect(parseInstant(`${from}000000`)).toBe(from) // the API's ns
    expect(parseInstant('2026-12-07T20:04')).toBe(new Date(2026, 11, 7, 20, 4).getTime()) // local
  })
  it('refuses what is not a time', () => {
    for (const s of ['', 'now', '5m', 'yesterday', '2026-12-07', '12/07/2026', '-5', '1e12', '2026-13-45T99:99:99Z'])
      expect(parseInstant(s)).toBeNaN()
  })
  it('takes a window only when both ends are good, in order and at most 31 days apart', () => {
    expect(parseCustom('2026-12-07T20:04:13Z', '2026-12-07T20:09:13Z')).toEqual({ from, to })
    expect(parseCustom(String(from), String(to))).toEqual({ from, to })
    expect(parseCustom(String(from), '')).toBeUndefined()
    expect(parseCustom('', String(to))).toBeUndefined()
    expect(parseCustom(String(to), String(from))).toBeUndefined() // reversed
    expect(parseCustom(String(from), String(from))).toBeUndefined() // empty
    expect(parseCustom(String(from), String(from + 32 * 86400_000))).toBeUndefined() // too long
    expect(parseCustom(String(from), String(from + 31 * 86400_000))).toEqual({ from, to: from + 31 * 86400_000 })
    expect(parseCustom('garbage', String(to))).toBeUndefined()
  })
})

describe('custom range: formatting', () => {
  it('writes ISO in UTC, ms only where there are some, and reads back the same', () => {
    expect(formatInstant(from)).toBe('2026-12-07T20:04:13Z')
    expect(formatInstant(from + 7)).toBe('2026-12-07T20:04:13.007Z')
    expect(customQuery({ from, to })).toEqual({ from: '2026-12-07T20:04:13Z', to: '2026-12-07T20:09:13Z' })
    for (const ms of [from, from + 1, to + 999, 0]) expect(parseInstant(formatInstant(ms))).toBe(ms)
  })
  it('round-trips datetime-local inputs (local time, whole seconds)', () => {
    const s = toLocalInput(from + 400)
    expect(s).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
    expect(fromLocalInput(s)).toBe(from)
    expect(fromLocalInput('2026-12-07T20:04')).toBe(new Date(2026, 11, 7, 20, 4).getTime())
    expect(fromLocalInput('')).toBeNaN()
    expect(fromLocalInput('2026-12-07')).toBeNaN()
  })
  it('turns a brushed span (either order) into whole seconds outward, or nothing when too short', () => {
    expect(brushed(from + 1500, from + 300)).toEqual({ from, to: from + 2000 })
    expect(brushed(from + 100, from + 600)).toEqual({ from, to: from + 1000 })
    expect(brushed(from, from)).toBeUndefined()
    expect(brushed(NaN, from)).toBeUndefined()
  })
})

describe('filters with a custom range', () => {
  it('parses from/to from the URL and keeps the preset beside it', () => {
    const f = parseFilters({ range: '5m', from: '2026-12-07T20:04:13Z', to: String(to), pid: '42' })
    expect(f).toEqual({ range: '5m', custom: { from, to }, node: '', pid: '42', comm: '' })
    // A broken window is no window: the preset stands.
    expect(parseFilters({ range: '5m', from: 'x', to: String(to) })).toEqual({ range: '5m', node: '', pid: '', comm: '' })
  })
  it('writes from/to (not range) to the URL, and reads them back the same', () => {
    const f = parseFilters({ from: String(from), to: String(to), comm: 'python3' })
    const q = filtersQuery(f)
    expect(q).toEqual({ from: '2026-12-07T20:04:13Z', to: '2026-12-07T20:09:13Z', comm: 'python3' })
    expect(parseFilters(q)).toEqual(f)
    // Leaving it: a preset without custom.
    expect(filtersQuery({ ...f, range: '24h', custom: undefined })).toEqual({ range: '24h', comm: 'python3' })
  })
  it('gives every API call from/to in Unix ns, exactly', () => {
    const f = parseFilters({ from: '2026-12-07T20:04:13.001Z', to: '2026-12-07T20:09:13Z', pid: '7' })
    const q = new URLSearchParams(apiQuery(f, { limit: 50, cursor: undefined }))
    expect(q.get('from')).toBe(`${from + 1}000000`)
    expect(q.get('to')).toBe(`${to}000000`)
    expect(q.get('pid')).toBe('7')
    expect(q.get('limit')).toBe('50')
    expect(apiQuery(parseFilters({ range: '5m' }))).toBe('from=5m') // presets as before
  })
})
