import { describe, expect, it } from 'vitest'
import { createSSRApp, h } from 'vue'
import { renderToString } from 'vue/server-renderer'
import VirtualTable from './components/VirtualTable.vue'
import { keyTarget, scrollFor, windowOf } from './virtual'

describe('windowOf', () => {
  const base = { count: 100_000, rowHeight: 32, viewport: 480, header: 32, overscan: 6 }
  it('renders a screenful and the overscan, spacers for the rest', () => {
    const w = windowOf({ ...base, scrollTop: 0 })
    expect(w.start).toBe(0)
    expect(w.end).toBe(14 + 6) // (480 - 32) / 32 rows in view, 6 more below
    expect(w.padTop).toBe(0)
    expect(w.padBottom).toBe((100_000 - w.end) * 32)
  })
  it('follows the scroll, and the spacers keep the full height', () => {
    const scrollTop = 50_000 * 32 + 10
    const w = windowOf({ ...base, scrollTop })
    expect(w.start).toBe(50_000 - 6)
    expect(w.end).toBe(50_000 + 15 + 6)
    expect(w.padTop + (w.end - w.start) * 32 + w.padBottom).toBe(100_000 * 32)
  })
  it('stays in bounds at the end, past it, and with few or no rows', () => {
    const end = windowOf({ ...base, scrollTop: 100_000 * 32 })
    expect(end.end).toBe(100_000)
    expect(end.start).toBeGreaterThan(100_000 - 30)
    expect(end.padBottom).toBe(0)
    expect(windowOf({ ...base, count: 5, scrollTop: 0 })).toEqual({ start: 0, end: 5, padTop: 0, padBottom: 0 })
    expect(windowOf({ ...base, count: 0, scrollTop: 0 })).toEqual({ start: 0, end: 0, padTop: 0, padBottom: 0 })
    expect(windowOf({ ...base, scrollTop: -100 }).start).toBe(0)
  })
})

describe('scrollFor and keyTarget', () => {
  const g = { count: 1000, rowHeight: 30, viewport: 330, header: 30 } // 10 rows in view
  it('scrolls only as far as needed to show a row whole', () => {
    expect(scrollFor(5, { ...g, scrollTop: 0 })).toBeUndefined()
    expect(scrollFor(10, { ...g, scrollTop: 0 })).toBe(11 * 30 - 300)
    expect(scrollFor(3, { ...g, scrollTop: 300 })).toBe(90)
  })
  it('moves by one, a page, or to the ends, within the rows', () => {
    expect(keyTarget('ArrowDown', 0, 1000, 10)).toBe(1)
    expect(keyTarget('ArrowDown', 999, 1000, 10)).toBe(999)
    expect(keyTarget('ArrowUp', 0, 1000, 10)).toBe(0)
    expect(keyTarget('PageDown', 995, 1000, 10)).toBe(999)
    expect(keyTarget('PageUp', 15, 1000, 10)).toBe(5)
    expect(keyTarget('Home', 500, 1000, 10)).toBe(0)
    expect(keyTarget('End', 5, 1000, 10)).toBe(999)
    expect(keyTarget('Enter', 5, 1000, 10)).toBeUndefined()
    expect(keyTarget('ArrowDown', 0, 0, 10)).toBeUndefined()
  })
})

describe('VirtualTable', () => {
  it('with 100,000 rows renders about a screenful of them', async () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}` }))
    const app = createSSRApp({
      render: () =>
        h(
          VirtualTable<{ id: number; name: string }>,
          { rows, rowKey: (r: { id: number }) => r.id, label: 'many', height: 480, rowHeight: 32, rowAttrs: (r: { id: number }) => ({ 'data-id': r.id }) },
          {
            head: () => h('th', 'Name'),
            row: ({ row }: { row: { name: string } }) => h('td', row.name),
          },
        ),
    })
    const html = await renderToString(app)
    const dataRows = html.match(/<tr[^>]*data-id=/g) ?? []
    // 480 px of box, a 32 px header: 14 rows in view, and the overscan below.
    expect(dataRows.length).toBeGreaterThan(10)
    expect(dataRows.length).toBeLessThanOrEqual(30)
    expect(html).toContain('data-id="0"')
    expect(html).not.toContain('data-id="100"')
    expect(html).toContain('aria-rowcount="100001"')
    expect(html).toContain(`height:${(100_000 - dataRows.length) * 32}px`) // the spacer below
    // One tab stop, the first row; the others reachable by the arrows.
    expect(html.match(/tabindex="0"/g)?.length).toBe(1)
    expect(html.match(/tabindex="-1"/g)?.length).toBe(dataRows.length - 1)
  })
  it('shows its empty slot without rows', async () => {
    const app = createSSRApp({
      render: () =>
        h(VirtualTable<number>, { rows: [], rowKey: (r: number) => r, label: 'none' }, { head: () => h('th', 'x'), row: () => h('td'), empty: () => h('td', 'Nothing') }),
    })
    const html = await renderToString(app)
    expect(html).toContain('Nothing')
    expect(html).not.toContain('tabindex')
  })
})
