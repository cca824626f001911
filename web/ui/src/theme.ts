// Light, dark or the system's scheme: a choice kept in localStorage (only this preference, no
// token), applied as <html data-theme> so that style.css picks the colours.
import { ref } from 'vue'

export const THEMES = ['system', 'light', 'dark'] as const
export type Theme = (typeof THEMES)[number]
const KEY = 'scope-theme'

export function parseTheme(v: string | null | undefined): Theme {
  return (THEMES as readonly string[]).includes(v ?? '') ? (v as Theme) : 'system'
}
// The next choice of the header's toggle: system → light → dark → system.
export function nextTheme(t: Theme): Theme {
  return THEMES[(THEMES.indexOf(t) + 1) % THEMES.length]
}

function stored(): Theme {
  try {
    return parseTheme(localStorage.getItem(KEY))
  } catch {
    return 'system'
  }
}

// The current choice; charts watch it to redraw in the new colours.
export const theme = ref<Theme>('system')

export function applyTheme(t: Theme, save = true) {
  theme.value = t
  if (t === 'system') delete document.documentElement.dataset.theme
  else document.documentElement.dataset.theme = t
  if (!save) return
  try {
    if (t === 'system') localStorage.removeItem(KEY)
    else localStorage.setItem(KEY, t)
  } catch {
    /* storage refused: the choice lasts this page */
  }
}

export function initTheme() {
  applyTheme(stored(), false)
}
