// The live stream's client: GET /api/v1/live, a WebSocket (docs/api/openapi.json, LiveProtocol).
// A browser cannot set Authorization on a WebSocket: the token goes as the subprotocol
// `bearer.<token>` beside `scope.v1`. The client sends one `subscribe` (again to change the
// filter); the server answers `subscribed`, then `events`, an `aggregate` each second, and
// `lagged` when this page reads slower than events come. A closed socket is opened again with
// exponential backoff; an upgrade that failed (the browser cannot see why: an expired token
// looks like a server that is down) renews the access token before the next try.
// Pure and DOM-free: the WebSocket class and the timers are injected (unit tests use fakes).

export const LIVE_FAMILIES = ['cuda', 'ggml', 'llama', 'exec', 'open', 'syscalls', 'sched', 'net'] as const
export type LiveFamily = (typeof LIVE_FAMILIES)[number]

export interface LiveSubscribe {
  type: 'subscribe'
  events?: string[]
  nodes?: string[]
  pids?: number[]
  comms?: string[]
}

// One event as `scope trace --json` writes it, with its node and sequence number there.
// `ts_text` is ts_ns's exact digits (a JSON number past 2^53 loses its last ones in JavaScript):
// the query API's event ids are made from it.
export interface LiveEvent {
  event: string
  ts_ns: number
  ts_text: string
  pid: number
  tid: number
  comm: string
  node: string
  seq: number
  [key: string]: unknown
}
export interface LiveAggregate {
  type: 'aggregate'
  ts_ns: number
  interval_ms: number
  events_per_s: Record<string, number>
  sample_every: number
  skipped: number
}
export type LiveMessage =
  | { type: 'subscribed'; filter: Omit<LiveSubscribe, 'type'> }
  | { type: 'events'; events: LiveEvent[] }
  | LiveAggregate
  | { type: 'lagged'; skipped: number; sample_every: number; message: string }

// A server message, or null for anything that is not one (never throws).
export function parseMessage(text: unknown): LiveMessage | null {
  if (typeof text !== 'string') return null
  let m: unknown
  try {
    // Inside a JSON string every quote is escaped, so `"ts_ns":` only ever matches a key.
    m = JSON.parse(text.replace(/"ts_ns":(-?\d+)/g, '"ts_ns":$1,"ts_text":"$1"'))
  } catch {
    return null
  }
  if (!m || typeof m !== 'object') return null
  const o = m as Record<string, unknown>
  switch (o.type) {
    case 'subscribed':
      return o.filter && typeof o.filter === 'object' ? (o as LiveMessage) : null
    case 'events': {
      if (!Array.isArray(o.events)) return null
      const events = o.events.filter(
        (e): e is LiveEvent =>
          !!e &&
          typeof e === 'object' &&
          typeof (e as LiveEvent).event === 'string' &&
          typeof (e as LiveEvent).ts_ns === 'number' &&
          typeof (e as LiveEvent).seq === 'number' &&
          typeof (e as LiveEvent).node === 'string',
      )
      return { type: 'events', events }
    }
    case 'aggregate':
      if (typeof o.events_per_s !== 'object' || typeof o.sample_every !== 'number') return null
      return o as unknown as LiveAggregate
    case 'lagged':
      return typeof o.skipped === 'number' && typeof o.sample_every === 'number'
        ? { type: 'lagged', skipped: o.skipped, sample_every: o.sample_every, message: String(o.message ?? '') }
        : null
    default:
      return null
  }
}

// The query API's id of a stored event (server/queries.cpp encode_event_key): ts-seq-hex(node).
export function eventId(e: Pick<LiveEvent, 'ts_text' | 'seq' | 'node'>): string {
  let hex = ''
  for (const b of new TextEncoder().encode(e.node)) hex += b.toString(16).padStart(2, '0')
  return `${e.ts_text}-${e.seq}-${hex}`
}

// The newest `cap` items, newest first; an item whose key is there already is not added again.
export class Ring<T> {
  items: T[] = []
  private keys = new Set<string>()
  constructor(
    readonly cap: number,
    private key: (t: T) => string,
  ) {}
  // `batch` oldest first (as the stream sends it).
  push(batch: readonly T[]): number {
    const fresh: T[] = []
    for (const t of batch) {
      const k = this.key(t)
      if (this.keys.has(k)) continue
      this.keys.add(k)
      fresh.push(t)
    }
    if (!fresh.length) return 0
    const all = fresh.reverse().concat(this.items)
    if (all.length > this.cap) {
      for (const t of all.slice(this.cap)) this.keys.delete(this.key(t))
      all.length = this.cap
    }
    this.items = all
    return fresh.length
  }
  clear() {
    this.items = []
    this.keys.clear()
  }
}

// The wait before reconnect attempt `attempt` (0 = the first retry): 0.5 s doubling to 30 s,
// each with up to a quarter off at random (clients that lost the server together do not all
// come back in the same millisecond).
export function backoffMs(attempt: number, random: () => number = Math.random, baseMs = 500, maxMs = 30000): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 20))
  return Math.round(full * (1 - 0.25 * random()))
}

export type LiveStatus = 'off' | 'connecting' | 'live' | 'reconnecting' | 'error'
export interface LiveState {
  status: LiveStatus
  // What went wrong and what to do (reconnecting, error); what is happening otherwise.
  message: string
  attempt: number // failed connections in a row
  retryAt: number // ms since the epoch of the next try, 0 when none is planned
  eventsPerS: number // the last aggregate's sum over the families
  sampleEvery: number // 1: every event; N: the server sends every Nth (this page fell behind)
  skipped: number
  received: number // events received since the client started
}

export interface SocketLike {
  readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}
export type SocketCtor = new (url: string, protocols: string[]) => SocketLike

export interface LiveClientOptions {
  url: string
  subscribe: LiveSubscribe
  // The access token to offer, renewed first when `renew`; null: no session (log in again).
  token: (renew: boolean) => Promise<string | null>
  onEvents: (events: LiveEvent[], sampleEvery: number) => void
  onSubscribed?: () => void
  onState?: (s: LiveState) => void
  WebSocket?: SocketCtor
  setTimer?: (f: () => void, ms: number) => unknown
  clearTimer?: (t: unknown) => void
  now?: () => number
  random?: () => number
  // Failed connections in a row before the state says error (it still retries).
  errorAfter?: number
}

const OPEN = 1

export class LiveClient {
  state: LiveState = {
    status: 'off',
    message: '',
    attempt: 0,
    retryAt: 0,
    eventsPerS: 0,
    sampleEvery: 1,
    skipped: 0,
    received: 0,
  }
  private ws: SocketLike | null = null
  private timer: unknown = null
  private stopped = true
  private sub: LiveSubscribe
  private generation = 0
  // A new filter was sent: the events before its `subscribed` are of the old one.
  private stale = false

  constructor(private o: LiveClientOptions) {
    this.sub = o.subscribe
  }

  private set(p: Partial<LiveState>) {
    this.state = { ...this.state, ...p }
    this.o.onState?.(this.state)
  }

  start() {
    if (!this.stopped) return
    this.stopped = false
    this.set({ status: 'connecting', message: 'Connecting…', attempt: 0, retryAt: 0 })
    void this.connect(false)
  }

  stop() {
    this.stopped = true
    this.generation++
    if (this.timer !== null) (this.o.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>)
    this.timer = null
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      try {
        ws.close(1000, 'page left')
      } catch {
        /* closed already */
      }
    }
    this.set({ status: 'off', message: '', retryAt: 0, eventsPerS: 0 })
  }

  // A new filter: sent on the open socket (the server answers `subscribed` again), or with the
  // next connection.
  resubscribe(sub: LiveSubscribe) {
    this.sub = sub
    if (this.ws && this.ws.readyState === OPEN) {
      this.stale = true
      this.ws.send(JSON.stringify(sub))
    }
  }

  // Skip the wait of a planned reconnect.
  retryNow() {
    if (this.stopped || this.timer === null) return
    ;(this.o.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>)
    this.timer = null
    void this.connect(true)
  }

  private async connect(renew: boolean) {
    const gen = ++this.generation
    this.set({ status: this.state.attempt ? (this.state.status === 'error' ? 'error' : 'reconnecting') : 'connecting', retryAt: 0 })
    let token: string | null
    try {
      token = await this.o.token(renew)
    } catch {
      token = ''
    }
    if (gen !== this.generation || this.stopped) return
    if (token === null) {
      this.stopped = true
      this.set({ status: 'error', message: 'Your session ended: log in again, then turn Live on.', retryAt: 0 })
      return
    }
    const Ctor = this.o.WebSocket ?? (globalThis.WebSocket as unknown as SocketCtor)
    let ws: SocketLike
    try {
      ws = new Ctor(this.o.url, ['scope.v1', `bearer.${token}`])
    } catch (e) {
      this.failed(`Cannot open the live stream: ${(e as Error).message}`, true)
      return
    }
    this.ws = ws
    let subscribed = false
    this.stale = false
    ws.onopen = () => ws.send(JSON.stringify(this.sub))
    ws.onmessage = (ev) => {
      const m = parseMessage(ev.data)
      if (!m) return
      if (m.type === 'subscribed') {
        subscribed = true
        this.stale = false
        this.set({ status: 'live', message: 'Live', attempt: 0, retryAt: 0 })
        this.o.onSubscribed?.()
      } else if (m.type === 'events') {
        if (this.stale) return
        this.state.received += m.events.length
        if (m.events.length) this.o.onEvents(m.events, this.state.sampleEvery)
      } else if (m.type === 'aggregate') {
        const total = Object.values(m.events_per_s).reduce((a, v) => a + (typeof v === 'number' ? v : 0), 0)
        this.set({
          eventsPerS: total,
          sampleEvery: m.sample_every,
          skipped: m.skipped,
          message: m.sample_every > 1 ? `Behind: showing 1 event in ${m.sample_every}` : 'Live',
        })
      } else if (m.type === 'lagged') {
        this.set({ sampleEvery: m.sample_every, skipped: this.state.skipped + m.skipped, message: m.message || 'Behind' })
      }
    }
    ws.onerror = () => undefined // a close follows, which says more
    ws.onclose = (ev) => {
      if (this.ws !== ws) return
      this.ws = null
      let why: string
      if (!subscribed)
        why = 'Cannot open the live stream (scope unreachable, the session expired, or too many streams)'
      else if (ev.code === 1008) why = `scope closed the stream: ${ev.reason || 'policy'}`
      else if (ev.code === 1001) why = 'scope is restarting'
      else why = `The stream closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`
      // An upgrade that failed renews the token first: an expired one fails the same way.
      this.failed(why, !subscribed)
    }
  }

  private failed(why: string, renew: boolean) {
    if (this.stopped) return
    const attempt = this.state.attempt + 1
    const wait = backoffMs(attempt - 1, this.o.random)
    const errorAfter = this.o.errorAfter ?? 4
    const error = attempt >= errorAfter
    const what = error ? ' Is scope running? Check the Fleet page, or log in again.' : ''
    this.set({
      status: error ? 'error' : 'reconnecting',
      attempt,
      retryAt: (this.o.now ?? Date.now)() + wait,
      message: `${why}.${what}`,
      eventsPerS: 0,
    })
    const gen = this.generation
    this.timer = (this.o.setTimer ?? setTimeout)(() => {
      this.timer = null
      if (gen === this.generation && !this.stopped) void this.connect(renew)
    }, wait)
  }
}

// The subscribe message for a page's filters and the families it shows (an empty filter is
// left out: it matches anything).
export function subscribeOf(f: { node: string; pid: string; comm: string }, families: readonly string[]): LiveSubscribe {
  const s: LiveSubscribe = { type: 'subscribe', events: [...families] }
  if (f.node) s.nodes = [f.node]
  if (f.pid && /^[1-9][0-9]{0,9}$/.test(f.pid)) s.pids = [Number(f.pid)]
  if (f.comm) s.comms = [f.comm]
  return s
}
