import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LiveClient, Ring, backoffMs, eventId, parseMessage, subscribeOf, type LiveEvent, type SocketLike } from './live'
import { LIVE_LAUNCHES, countLaunches, dropBefore, launchOf, mergeRate, mergeTop, useCudaLive, type Counts } from './stores/cudaLive'
import { applyHost, applyOpens, applyProcesses, refreshHost } from './stores/hostLive'
import { useHost, type Process } from './stores/host'
import { useAuth } from './stores/auth'
import { parseFilters } from './filters'
import { createPinia, setActivePinia } from 'pinia'

// A WebSocket stand-in: the test opens, sends and closes it by hand.
class FakeSocket implements SocketLike {
  static all: FakeSocket[] = []
  readyState = 0
  sent: string[] = []
  closed: { code?: number; reason?: string } | null = null
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor(
    public url: string,
    public protocols: string[],
  ) {
    FakeSocket.all.push(this)
  }
  send(data: string) {
    this.sent.push(data)
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason }
    this.readyState = 3
  }
  // The server's side.
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  recv(m: unknown) {
    this.onmessage?.({ data: typeof m === 'string' ? m : JSON.stringify(m) })
  }
  drop(code = 1006, reason = '') {
    this.readyState = 3
    this.onclose?.({ code, reason })
  }
}

const TS = '1796653579018554801' // past 2^53: JSON.parse rounds it
const launchJson = (seq: number, extra = '') =>
  `{"block":[256,1,1],"call":"cudaLaunchKernel","comm":"cuda_demo","duration_ns":1200,"event":"cuda","grid":[4,1,1],` +
  `"kernel":"vector_add","node":"vm","op":"launch","pid":42,"ret":0,"seq":${seq},"shared_mem":0,"stream":"0x0","tid":43,"ts_ns":${TS}${extra}}`

describe('live messages', () => {
  it('parses each server message, keeping ts_ns exact for ids', () => {
    expect(parseMessage('{"filter":{"events":["cuda"]},"type":"subscribed"}')).toEqual({ type: 'subscribed', filter: { events: ['cuda'] } })
    const m = parseMessage(`{"type":"events","events":[${launchJson(7)}]}`)
    expect(m?.type).toBe('events')
    const e = (m as { events: LiveEvent[] }).events[0]
    expect(e.ts_text).toBe(TS)
    expect(e.kernel).toBe('vector_add')
    expect(eventId(e)).toBe(`${TS}-7-766d`) // "vm" in hex, as the query API's launch ids
    const a = parseMessage('{"events_per_s":{"cuda":2.5},"interval_ms":999,"sample_every":1,"skipped":0,"ts_ns":1,"type":"aggregate"}')
    expect(a).toMatchObject({ type: 'aggregate', events_per_s: { cuda: 2.5 }, sample_every: 1 })
    expect(parseMessage('{"type":"lagged","skipped":12,"sample_every":10,"message":"behind"}')).toEqual({
      type: 'lagged',
      skipped: 12,
      sample_every: 10,
      message: 'behind',
    })
  })
  it('does not take a ts_ns inside a string for a key', () => {
    const m = parseMessage(`{"type":"events","events":[{"event":"exec","argv":["echo","\\"ts_ns\\":5"],"ts_ns":10,"pid":1,"tid":1,"comm":"sh","node":"n","seq":1}]}`)
    const e = (m as { events: LiveEvent[] }).events[0]
    expect(e.argv).toEqual(['echo', '"ts_ns":5'])
    expect(e.ts_text).toBe('10')
  })
  it('rejects what is not a server message', () => {
    for (const bad of ['', 'nope', '[]', 'null', '{"type":"other"}', '{"type":"events"}', '{"type":"aggregate"}', 42])
      expect(parseMessage(bad)).toBeNull()
    // An event without the keys every event has is left out.
    expect(parseMessage('{"type":"events","events":[{"event":"cuda"},null]}')).toEqual({ type: 'events', events: [] })
  })
  it('makes the subscribe message of the page filters', () => {
    expect(subscribeOf({ node: '', pid: '', comm: '' }, ['cuda'])).toEqual({ type: 'subscribe', events: ['cuda'] })
    expect(subscribeOf({ node: 'gpu-1', pid: '42', comm: 'python3' }, ['exec', 'open'])).toEqual({
      type: 'subscribe',
      events: ['exec', 'open'],
      nodes: ['gpu-1'],
      pids: [42],
      comms: ['python3'],
    })
  })
})

describe('bounded buffer', () => {
  it('keeps the newest cap items, newest first, each once', () => {
    const r = new Ring<{ id: number }>(3, (x) => String(x.id))
    expect(r.push([{ id: 1 }, { id: 2 }])).toBe(2)
    expect(r.items.map((x) => x.id)).toEqual([2, 1])
    expect(r.push([{ id: 2 }, { id: 3 }, { id: 4 }])).toBe(2) // 2 is there already
    expect(r.items.map((x) => x.id)).toEqual([4, 3, 2])
    // 1 fell out: it counts as new again.
    expect(r.push([{ id: 1 }])).toBe(1)
    expect(r.items.map((x) => x.id)).toEqual([1, 4, 3])
    expect(r.push(Array.from({ length: 10 }, (_, i) => ({ id: 100 + i })))).toBe(10)
    expect(r.items.map((x) => x.id)).toEqual([109, 108, 107])
    r.clear()
    expect(r.items).toEqual([])
    expect(r.push([{ id: 109 }])).toBe(1)
  })
})

describe('reconnect backoff', () => {
  it('doubles from 0.5 s to at most 30 s, up to a quarter off at random', () => {
    const none = () => 0
    expect([0, 1, 2, 3, 4, 5, 6, 7, 100].map((a) => backoffMs(a, none))).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    expect(backoffMs(0, () => 1)).toBe(375)
    expect(backoffMs(10, () => 0.5)).toBe(26250)
  })
})

describe('live client', () => {
  beforeEach(() => {
    FakeSocket.all = []
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.clearAllTimers()
    vi.useRealTimers()
  })
  function client(token: (renew: boolean) => Promise<string | null> = async () => 'tok') {
    const got: LiveEvent[][] = []
    const states: string[] = []
    const subscribed = vi.fn()
    const c = new LiveClient({
      url: 'ws://h/api/v1/live',
      subscribe: { type: 'subscribe', events: ['cuda'] },
      token,
      onEvents: (e) => got.push(e),
      onSubscribed: subscribed,
      onState: (s) => states.push(s.status),
      WebSocket: FakeSocket,
      random: () => 0,
    })
    return { c, got, states, subscribed }
  }

  it('offers the token as a subprotocol, subscribes, and passes events on', async () => {
    const { c, got, states, subscribed } = client()
    c.start()
    await vi.advanceTimersByTimeAsync(0)
    const ws = FakeSocket.all[0]
    expect(ws.url).toBe('ws://h/api/v1/live')
    expect(ws.protocols).toEqual(['scope.v1', 'bearer.tok'])
    expect(c.state.status).toBe('connecting')
    ws.open()
    expect(JSON.parse(ws.sent[0])).toEqual({ type: 'subscribe', events: ['cuda'] })
    ws.recv({ type: 'subscribed', filter: {} })
    expect(c.state.status).toBe('live')
    expect(subscribed).toHaveBeenCalledTimes(1)
    ws.recv(`{"type":"events","events":[${launchJson(1)},${launchJson(2)}]}`)
    ws.recv('not json')
    expect(got).toHaveLength(1)
    expect(got[0].map((e) => e.seq)).toEqual([1, 2])
    ws.recv({ type: 'aggregate', ts_ns: 1, interval_ms: 1000, events_per_s: { cuda: 3, exec: 1 }, sample_every: 1, skipped: 0 })
    expect(c.state.eventsPerS).toBe(4)
    // A new filter goes on the open socket.
    c.resubscribe({ type: 'subscribe', events: ['cuda'], pids: [42] })
    expect(JSON.parse(ws.sent[1])).toEqual({ type: 'subscribe', events: ['cuda'], pids: [42] })
    // Events of the old filter, until the server says the new one is in effect, are dropped.
    ws.recv(`{"type":"events","events":[${launchJson(3)}]}`)
    expect(got).toHaveLength(1)
    ws.recv({ type: 'subscribed', filter: { pids: [42] } })
    ws.recv(`{"type":"events","events":[${launchJson(4)}]}`)
    expect(got.map((b) => b[0].seq)).toEqual([1, 4])
    expect(subscribed).toHaveBeenCalledTimes(2)
    c.stop()
    expect(ws.closed?.code).toBe(1000)
    expect(states[states.length - 1]).toBe('off')
  })

  it('reconnects with backoff, renewing the token after a failed upgrade', async () => {
    const token = vi.fn(async (renew: boolean) => (renew ? 'new' : 'old'))
    const { c, subscribed } = client(token)
    c.start()
    await vi.advanceTimersByTimeAsync(0)
    const first = FakeSocket.all[0]
    first.open()
    first.recv({ type: 'subscribed', filter: {} })
    // Closed after it was live (say scope restarted): reconnect in 0.5 s, same token.
    first.drop(1001)
    expect(c.state.status).toBe('reconnecting')
    expect(c.state.attempt).toBe(1)
    await vi.advanceTimersByTimeAsync(499)
    expect(FakeSocket.all).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(FakeSocket.all).toHaveLength(2)
    expect(token).toHaveBeenLastCalledWith(false)
    // The upgrade fails (no subscribed): the next try, 1 s later, renews the token first.
    FakeSocket.all[1].drop(1006)
    expect(c.state.attempt).toBe(2)
    await vi.advanceTimersByTimeAsync(999)
    expect(FakeSocket.all).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(token).toHaveBeenLastCalledWith(true)
    expect(FakeSocket.all[2].protocols).toEqual(['scope.v1', 'bearer.new'])
    // Two more failures: 2 s, then 4 s, and the state says error (still retrying).
    FakeSocket.all[2].drop()
    await vi.advanceTimersByTimeAsync(2000)
    FakeSocket.all[3].drop()
    expect(c.state.status).toBe('error')
    expect(c.state.message).toMatch(/Is scope running/)
    // retry now skips the wait; a subscribed resets the count.
    c.retryNow()
    await vi.advanceTimersByTimeAsync(0)
    expect(FakeSocket.all).toHaveLength(5)
    FakeSocket.all[4].open()
    FakeSocket.all[4].recv({ type: 'subscribed', filter: {} })
    expect(c.state).toMatchObject({ status: 'live', attempt: 0 })
    expect(subscribed).toHaveBeenCalledTimes(2)
    c.stop()
    await vi.advanceTimersByTimeAsync(60000)
    expect(FakeSocket.all).toHaveLength(5)
  })

  it('stops with an error when the session is over', async () => {
    const { c } = client(async () => null)
    c.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(FakeSocket.all).toHaveLength(0)
    expect(c.state.status).toBe('error')
    expect(c.state.message).toMatch(/log in again/)
    await vi.advanceTimersByTimeAsync(60000)
    expect(FakeSocket.all).toHaveLength(0)
  })

  it('says why scope closed it (too slow)', async () => {
    const { c } = client()
    c.start()
    await vi.advanceTimersByTimeAsync(0)
    const ws = FakeSocket.all[0]
    ws.open()
    ws.recv({ type: 'subscribed', filter: {} })
    ws.recv({ type: 'lagged', skipped: 100, sample_every: 10, message: 'behind' })
    expect(c.state.sampleEvery).toBe(10)
    ws.drop(1008, 'too slow: behind for 5 s')
    expect(c.state.message).toContain('too slow: behind for 5 s')
    c.stop()
  })
})

const ev = (o: Partial<LiveEvent> & { event: string }): LiveEvent => ({
  ts_ns: 0,
  ts_text: String(o.ts_ns ?? 0),
  pid: 1,
  tid: 1,
  comm: 'c',
  node: 'n',
  seq: 0,
  ...o,
})

describe('cuda live', () => {
  it('takes launches only, with the query API ids', () => {
    const l = launchOf(ev({ event: 'cuda', op: 'launch', kernel: 'k', grid: [1, 1, 1], ts_ns: 5, seq: 3, duration_ns: 10 }))
    expect(l).toMatchObject({ id: '5-3-6e', kernel: 'k', grid: [1, 1, 1], duration_ns: 10, block: null })
    expect(launchOf(ev({ event: 'cuda', op: 'memcpy' }))).toBeNull()
    expect(launchOf(ev({ event: 'exec' }))).toBeNull()
  })
  it('adds live counts to the rate and top kernels, the window following the clock', () => {
    const s = 1e9
    const counts: Counts = new Map()
    const launches = [
      { kernel: 'a', ts_ns: 62 * s, duration_ns: 100 },
      { kernel: 'a', ts_ns: 62.5 * s, duration_ns: 100 },
      { kernel: 'b', ts_ns: 125 * s, duration_ns: null },
    ].map((x, i) => ({ ...launchOf(ev({ event: 'cuda', op: 'launch', seq: i, ...x }))! }))
    countLaunches(counts, launches, 2) // 1-second cells
    expect(counts.size).toBe(2)
    // The API's bucket start a float's rounding off the step's multiple.
    const rate = { window: { from_ns: 0, to_ns: 120 * s }, step_ns: 60 * s, series: [{ ts_ns: 60 * s + 256, kernel: 'a', launches: 3, total_ns: 300 }] }
    const m = mergeRate(rate, counts, 130 * s)!
    expect(m.window).toEqual({ from_ns: 10 * s, to_ns: 130 * s })
    expect(m.series).toEqual([
      { ts_ns: 60 * s + 256, kernel: 'a', launches: 7, total_ns: 700 },
      { ts_ns: 120 * s, kernel: 'b', launches: 2, total_ns: 0 },
    ])
    expect(rate.series[0].launches).toBe(3) // the answer itself is left as it was
    expect(mergeTop([{ kernel: 'b', launches: 1, total_ns: 50 }], counts)).toEqual([
      { kernel: 'a', launches: 4, total_ns: 400 },
      { kernel: 'b', launches: 3, total_ns: 50 },
    ])
    // A newer answer covers up to 100 s: the counts before are in it.
    dropBefore(counts, 100 * s)
    expect([...counts.values()].map((c) => c.kernel)).toEqual(['b'])
    // Cells of the chart's step: one per kernel and bucket however many launches.
    const wide: Counts = new Map()
    countLaunches(wide, Array.from({ length: 1000 }, (_, i) => ({ ...launches[0], ts_ns: i * 0.05 * s })), 1, 10 * s)
    expect([...wide.values()].map((c) => [c.start_ns / s, c.launches])).toEqual([
      [0, 200],
      [10, 200],
      [20, 200],
      [30, 200],
      [40, 200],
    ])
  })
  it('keeps the last launches, counts those after the answer, forgets on reset', () => {
    setActivePinia(createPinia())
    const live = useCudaLive()
    const launch = (seq: number, ts: number) => ev({ event: 'cuda', op: 'launch', kernel: 'k', seq, ts_ns: ts, ts_text: String(ts) })
    live.resync(1000, 100, 10000)
    live.apply([launch(1, 900), launch(2, 1000), launch(3, 1100), ev({ event: 'cuda', op: 'memcpy', seq: 4 })], 1)
    expect(live.launches.map((l) => l.id)).toEqual(['1100-3-6e', '1000-2-6e', '900-1-6e'])
    expect(live.received).toBe(3)
    expect(mergeTop([], live.counts)).toEqual([{ kernel: 'k', launches: 2, total_ns: 0 }]) // 900 was in the answer
    live.apply([launch(3, 1100)], 1) // again: not twice
    expect(live.received).toBe(3)
    live.apply(Array.from({ length: LIVE_LAUNCHES + 5 }, (_, i) => launch(10 + i, 2000 + i)), 1)
    expect(live.launches).toHaveLength(LIVE_LAUNCHES)
    expect(live.launches[0].id).toBe(`${2000 + LIVE_LAUNCHES + 4}-${10 + LIVE_LAUNCHES + 4}-6e`)
    live.reset()
    expect(live.launches).toEqual([])
    expect(live.counts.size).toBe(0)
  })
})

describe('host live', () => {
  const proc = (id: string, pid: number, ts: number, ppid: number | null = 1): Process => ({
    id,
    ts_ns: ts,
    node: 'n',
    pid,
    ppid,
    uid: 0,
    comm: 'sh',
    filename: '/bin/sh',
    argv: ['sh'],
    argv_truncated: false,
    ret: 0,
    exit: null,
  })
  it('adds execs once and puts exits on their process', () => {
    const items = [proc('10-1-6e', 100, 10)]
    const out = applyProcesses(items, [
      ev({ event: 'exec', ts_ns: 10, seq: 1, pid: 100 }), // listed already
      ev({ event: 'exec', ts_ns: 20, seq: 2, pid: 101, ppid: 100, argv: ['cat', 'x'], comm: 'cat' }),
      ev({ event: 'exit', ts_ns: 30, seq: 3, pid: 101, exit_code: 1, lifetime_ns: 10 }),
    ])!
    expect(out.map((p) => p.id)).toEqual(['10-1-6e', '20-2-6e'])
    expect(out[1]).toMatchObject({ pid: 101, ppid: 100, comm: 'cat', argv: ['cat', 'x'], exit: { exit_code: 1, lifetime_ns: 10, signal: null } })
    expect(items).toHaveLength(1)
    expect(applyProcesses(items, [ev({ event: 'open' })])).toBeNull()
    // Bounded: the oldest go.
    const many = applyProcesses([], [1, 2, 3, 4].map((i) => ev({ event: 'exec', ts_ns: i, seq: i, pid: i })), 3)!
    expect(many.map((p) => p.pid)).toEqual([2, 3, 4])
  })
  it('counts opens after the answer only', () => {
    const a = { window: { from_ns: 0, to_ns: 100 }, comms: [{ comm: 'cat', opens: 2, errors: 0 }], paths: [{ path: '/m', opens: 2, errors: 0 }] }
    const out = applyOpens(a, [
      ev({ event: 'open', ts_ns: 99, comm: 'cat', path: '/m', ret: 3 }), // in the answer
      ev({ event: 'open', ts_ns: 100, comm: 'cat', path: '/m', ret: 3 }),
      ev({ event: 'open', ts_ns: 101, comm: 'sh', path: '/x', ret: -2 }),
      ev({ event: 'open', ts_ns: 102, comm: 'sh', path: '/x', ret: -2 }),
    ])!
    expect(out.comms).toEqual([
      { comm: 'cat', opens: 3, errors: 0 },
      { comm: 'sh', opens: 2, errors: 2 },
    ])
    expect(out.paths).toEqual([
      { path: '/m', opens: 3, errors: 0 },
      { path: '/x', opens: 2, errors: 2 },
    ])
    expect(a.comms[0].opens).toBe(2)
    expect(applyOpens(a, [ev({ event: 'open', ts_ns: 5 })])).toBeNull()
  })
})

describe('host live, on the store', () => {
  beforeEach(() => setActivePinia(createPinia()))
  it('applies events to the loaded panels and asks the others again without a loading state', async () => {
    const auth = useAuth()
    const calls: string[] = []
    vi.spyOn(auth, 'call').mockImplementation(async (path: string) => {
      calls.push(path)
      if (path.includes('/host/opens')) return { window: { from_ns: 0, to_ns: 100 }, comms: [], paths: [] }
      return { window: { from_ns: 0, to_ns: 100 }, items: [], next_cursor: null, step_ns: 1, comms: [], series: [], syscalls: [] }
    })
    const host = useHost()
    const f = parseFilters({ range: '5m', comm: 'sh', live: '1' })
    expect(f.live).toBe(true)
    await host.load(f)
    applyHost(host, [ev({ event: 'exec', ts_ns: 200, seq: 1, pid: 7, comm: 'sh' }), ev({ event: 'open', ts_ns: 201, seq: 2, pid: 7, comm: 'sh', path: '/etc/x', ret: 3 })])
    expect(host.processes.data?.items.map((p) => p.pid)).toEqual([7])
    expect(host.opens.data?.comms).toEqual([{ comm: 'sh', opens: 1, errors: 0 }])
    calls.length = 0
    const loading: boolean[] = []
    const refreshing = refreshHost(host, f)
    loading.push(host.sched.loading, host.syscalls.loading, host.tcp.loading)
    await refreshing
    expect(loading).toEqual([false, false, false])
    expect(calls.map((c) => c.split('?')[0]).sort()).toEqual(['/api/v1/query/host/sched', '/api/v1/query/host/syscalls', '/api/v1/query/host/tcp'])
    expect(calls.every((c) => c.includes('comm=sh') && !c.includes('live'))).toBe(true)
    // The streamed panels are left as they are.
    expect(host.processes.data?.items).toHaveLength(1)
  })
})
