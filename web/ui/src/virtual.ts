// The windowing of a virtual-scroll table (components/VirtualTable.vue): with rows of a fixed
// height, which of them to render for a scroll position, and the spacers that stand in for the
// rest so that the scrollbar stays true.

export interface WindowIn {
  count: number // rows in all
  rowHeight: number // px, every row
  scrollTop: number // px, of the scrolling box
  viewport: number // px, the box's visible height
  header?: number // px of the box taken by a sticky header (rows start under it)
  overscan?: number // rows rendered beyond each edge, so that a fast scroll shows no gap
}

export interface WindowOut {
  start: number // first row rendered
  end: number // one past the last
  padTop: number // px of spacer before start
  padBottom: number // px of spacer after end
}

export function windowOf({ count, rowHeight, scrollTop, viewport, header = 0, overscan = 6 }: WindowIn): WindowOut {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0 }
  const top = Math.max(0, scrollTop)
  const rowsArea = Math.max(rowHeight, viewport - header)
  const first = Math.min(count - 1, Math.floor(top / rowHeight))
  const last = Math.ceil((top + rowsArea) / rowHeight) // exclusive
  const start = Math.max(0, first - overscan)
  const end = Math.min(count, Math.max(last, first + 1) + overscan)
  return { start, end, padTop: start * rowHeight, padBottom: (count - end) * rowHeight }
}

// The scrollTop that shows row `index` whole, moving as little as it can (undefined: already).
export function scrollFor(index: number, { rowHeight, scrollTop, viewport, header = 0 }: WindowIn): number | undefined {
  const top = index * rowHeight
  const bottom = top + rowHeight
  const rowsArea = viewport - header
  if (top < scrollTop) return top
  if (bottom > scrollTop + rowsArea) return bottom - rowsArea
  return undefined
}

// Where a key moves the focus from row `at` of `count` (`page`: rows in a screenful); undefined
// for keys that do not move it.
export function keyTarget(key: string, at: number, count: number, page: number): number | undefined {
  if (count <= 0) return undefined
  const clamp = (i: number) => Math.max(0, Math.min(count - 1, i))
  switch (key) {
    case 'ArrowDown':
      return clamp(at + 1)
    case 'ArrowUp':
      return clamp(at - 1)
    case 'PageDown':
      return clamp(at + Math.max(1, page))
    case 'PageUp':
      return clamp(at - Math.max(1, page))
    case 'Home':
      return 0
    case 'End':
      return count - 1
    default:
      return undefined
  }
}
