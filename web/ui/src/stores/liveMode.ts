// Live mode for a page (live=1 in its URL): the live stream of the families it shows, over its
// node/pid/comm filters. After each `subscribed` (the first, a reconnect, a new filter) the page
// loads its data from the query API again, holding the events that arrive meanwhile, then
// applies them (each page's apply skips what that answer counted already). Panels that do not
// stream are asked again on a timer. The socket closes when the page is left, live is turned
// off or the session ends. The connection's state is in the `live` store, for LiveToggle.
import { defineStore } from 'pinia'
import { computed, onUnmounted, watch, type Ref } from 'vue'
import { useAuth } from './auth'
import { LiveClient, subscribeOf, type LiveEvent, type LiveFamily, type LiveState } from '../live'
import type { Filters } from '../filters'

export const useLive = defineStore('live', {
  state: () => ({
    state: { status: 'off', message: '', attempt: 0, retryAt: 0, eventsPerS: 0, sampleEvery: 1, skipped: 0, received: 0 } as LiveState,
    retry: null as (() => void) | null,
  }),
})

export interface LiveModeOptions {
  filters: Ref<Filters>
  families: readonly LiveFamily[]
  // The page's data from the query API (awaited: events that arrive meanwhile wait for it).
  load: () => Promise<void>
  apply: (events: LiveEvent[], weight: number) => void
  // A new subscription (another filter): drop what the last one gathered.
  reset?: () => void
  // What does not stream, asked again every refreshMs while live.
  refresh?: () => Promise<void>
  refreshMs?: number
}

export function liveUrl(loc: Pick<Location, 'protocol' | 'host'> = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/api/v1/live`
}

export function useLiveMode(o: LiveModeOptions) {
  const store = useLive()
  const auth = useAuth()
  let client: LiveClient | null = null
  let held: [LiveEvent[], number][] | null = null
  let loads = 0
  let refreshTimer: ReturnType<typeof setInterval> | undefined
  const subKey = computed(() => JSON.stringify(subscribeOf(o.filters.value, o.families)))
  const wanted = computed(() => !!o.filters.value.live && auth.loggedIn)

  async function resync() {
    const n = ++loads
    held = held ?? []
    try {
      await o.load()
    } finally {
      if (n === loads && held) {
        const h = held
        held = null
        for (const [events, weight] of h) o.apply(events, weight)
      }
    }
  }

  function open() {
    if (client) return
    o.reset?.()
    const c = new LiveClient({
      url: liveUrl(),
      subscribe: JSON.parse(subKey.value),
      token: async (renew) => {
        if (!auth.loggedIn) return null
        // The auth store renews a minute before expiry; a failed upgrade, or a page that slept
        // past it, renews here (the same shared request).
        if (renew || auth.expiresAt - Date.now() < 30000) await auth.renew()
        return auth.loggedIn ? auth.access : null
      },
      onEvents: (events, weight) => {
        if (held) held.push([events, weight])
        else o.apply(events, weight)
      },
      onSubscribed: () => void resync(),
      onState: (s) => {
        store.state = s
      },
    })
    client = c
    store.retry = () => c.retryNow()
    c.start()
    if (o.refresh) {
      const refresh = o.refresh
      refreshTimer = setInterval(() => {
        if (store.state.status === 'live') void refresh()
      }, o.refreshMs ?? 10000)
    }
  }

  function close() {
    clearInterval(refreshTimer)
    refreshTimer = undefined
    client?.stop()
    client = null
    held = null
    loads++
    store.retry = null
  }

  watch(wanted, (on) => (on ? open() : close()), { immediate: true })
  watch(subKey, (k) => {
    if (!client) return
    o.reset?.()
    client.resubscribe(JSON.parse(k))
  })
  onUnmounted(close)
  return { state: computed(() => store.state) }
}
