import { nextTick, ref } from 'vue'

// A removal that takes a second click (the admin pages' "Remove…" / "Delete…"): which row awaits it,
// and where focus goes. On ask, focus moves to the row's Cancel (so Enter or Space does no harm); on
// cancel, back to the row's first button (`data-ask="<name>"`).
export function useConfirm() {
  const confirming = ref('')
  async function ask(name: string) {
    confirming.value = name
    await nextTick()
    document.querySelector<HTMLButtonElement>('[data-confirm-cancel]')?.focus()
  }
  async function cancel(name: string) {
    confirming.value = ''
    await nextTick()
    document.querySelector<HTMLButtonElement>(`[data-ask="${name}"]`)?.focus()
  }
  return { confirming, ask, cancel }
}
