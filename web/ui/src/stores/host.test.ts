import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { argvText, endpoint, exitLabel, processTree, schedSeries, useHost, visibleRows, type Process } from './host'
import { historyMinutes, uptimeShare, useNode, type NodeMinute } from './node'
import { useAuth } from './auth'
import { parseFilters } from '../filters'

function proc(pid: number, ppid: number | null, ts: number, extra: Partial<Process> = {}): Process {
  return {
    id: `${ts}-${pid}-6e`,
    ts_ns: ts,
    node: 'n',
    pid,
    ppid,
    uid: 0,
    comm: `p${pid}`,
    filename: null,
    argv: null,
    argv_truncated: false,
    ret: 0,
    exit: null,
    ...extra,
  }
}

describe('processTree', () => {
  it('puts children under the latest earlier exec of their parent pid, oldest first, depth first', () => {
    const rows = processTree([
      proc(20, 10, 3), // a child of 10
      proc(10, 1, 1), // 1 is not in the list: a root
      proc(30, 20, 4), // a grandchild
      proc(21, 10, 5),
      proc(99, 98, 2), // another root
    ])
    expect(rows.map((r) => [r.p.pid, r.depth, r.children])).toEqual([
      [10, 0, 2],
      [20, 1, 1],
      [30, 2, 0],
      [21, 1, 0],
      [99, 0, 0],
    ])
  })

  it('shows an exec without a fork under the exec it replaced, and keeps nodes apart', () => {
    const rows = processTree([
      proc(10, 1, 1, { comm: 'sh' }),
      proc(10, 1, 2, { comm: 'python' }), // sh -c 'exec python'
      proc(11, 10, 3, { comm: 'worker' }), // forked by python: under the later exec
      proc(11, 10, 4, { node: 'other' }), // the same pids on another node: a root there
    ])
    expect(rows.map((r) => [r.p.comm, r.depth, r.reexec])).toEqual([
      ['sh', 0, false],
      ['python', 1, true],
      ['worker', 2, false],
      ['p11', 0, false],
    ])
  })

  it('folds the subtrees of collapsed processes away', () => {
    const rows = processTree([proc(10, 1, 1), proc(20, 10, 2), proc(30, 20, 3), proc(21, 10, 4), proc(99, 98, 5)])
    const pids = (c: string[]) => visibleRows(rows, new Set(c)).map((r) => r.p.pid)
    expect(pids([])).toEqual([10, 20, 30, 21, 99])
    expect(pids([rows[1].p.id])).toEqual([10, 20, 21, 99])
    expect(pids([rows[0].p.id])).toEqual([10, 99])
    expect(pids([rows[0].p.id, rows[1].p.id])).toEqual([10, 99])
    expect(pids([rows[2].p.id])).toEqual([10, 20, 30, 21, 99]) // a leaf: nothing to fold
  })

  it('does not put a child under a parent that exec’d after it (a reused pid)', () => {
    const rows = processTree([proc(20, 10, 1), proc(10, 1, 2)])
    expect(rows.map((r) => r.depth)).toEqual([0, 0])
  })
})

describe('host formatting', () => {
  it('writes a command line from argv, quoting words with spaces', () => {
    expect(argvText({ argv: ['cat', '/etc/hostname'], argv_truncated: false, filename: '/bin/cat', comm: 'cat' })).toBe(
      'cat /etc/hostname',
    )
    expect(argvText({ argv: ['sh', '-c', "echo 'hi' there"], argv_truncated: true, filename: null, comm: 'sh' })).toBe(
      `sh -c 'echo '\\''hi'\\'' there' …`,
    )
    expect(argvText({ argv: null, argv_truncated: null, filename: '/usr/bin/true', comm: 'true' })).toBe('/usr/bin/true')
    expect(argvText({ argv: [], argv_truncated: null, filename: null, comm: 'kworker' })).toBe('kworker')
  })
  it('says how a process ended', () => {
    expect(exitLabel(null)).toEqual({ text: 'running', kind: 'running' })
    const e = { ts_ns: 1, exit_code: 0, signal: null, core_dumped: false, lifetime_ns: 5 }
    expect(exitLabel(e)).toEqual({ text: '0', kind: 'ok' })
    expect(exitLabel({ ...e, exit_code: 2 })).toEqual({ text: '2', kind: 'fail' })
    expect(exitLabel({ ...e, exit_code: null, signal: 9 })).toEqual({ text: 'SIGKILL', kind: 'fail' })
    expect(exitLabel({ ...e, exit_code: null, signal: 11, core_dumped: true })).toEqual({ text: 'SIGSEGV (core)', kind: 'fail' })
    expect(exitLabel({ ...e, exit_code: null, signal: 40 }).text).toBe('signal 40')
  })
  it('writes TCP endpoints', () => {
    expect(endpoint('10.0.0.2', 443)).toBe('10.0.0.2:443')
    expect(endpoint('::1', 8080)).toBe('[::1]:8080')
    expect(endpoint(null, 80)).toBe('—')
    expect(endpoint('10.0.0.2', null)).toBe('10.0.0.2')
  })
  it('fills sched buckets per comm, per second', () => {
    const s = schedSeries(
      [
        { ts_ns: 10e9, comm: 'a', switches: 50, offcpu_ns: 1e9, runq_ns: 0 },
        { ts_ns: 20e9, comm: 'a', switches: 10, offcpu_ns: 0, runq_ns: 0 },
        { ts_ns: 20e9, comm: 'b', switches: 5, offcpu_ns: 5e8, runq_ns: 2e8 },
      ],
      'switches',
      5e9,
      { from_ns: 11e9, to_ns: 25e9 },
    )
    expect(s.map((x) => x.comm)).toEqual(['a', 'b'])
    expect(s[0].points).toEqual([
      [10_000, 10],
      [15_000, 0],
      [20_000, 2],
    ])
    expect(schedSeries([{ ts_ns: 20e9, comm: 'b', switches: 5, offcpu_ns: 5e8, runq_ns: 2e8 }], 'runq_ns', 5e9, { from_ns: 20e9, to_ns: 25e9 })[0]
      .points).toEqual([[20_000, 4e7]])
    expect(schedSeries([], 'switches', 0, { from_ns: 0, to_ns: 1 })).toEqual([])
  })
})

describe('node history', () => {
  const m = (minute: number, heartbeats = 12): NodeMinute => ({ minute_ns: minute * 60e9, heartbeats, events: 100, dropped: 0 })
  it('lists every minute of the range, null where no heartbeat came', () => {
    const mins = historyMinutes([m(10), m(12)], 9 * 60e9 + 5e9, 12 * 60e9 + 30e9)
    expect(mins.map((x) => [x.minute_ns / 60e9, x.m?.heartbeats ?? null])).toEqual([
      [9, null],
      [10, 12],
      [11, null],
      [12, 12],
    ])
    // Before the first heartbeat does not count as down.
    expect(uptimeShare(mins)).toBeCloseTo(2 / 3)
    expect(uptimeShare(historyMinutes([], 0, 120e9))).toBeNull()
  })
  it('matches minutes of real Unix ns (past a double’s exact integers)', () => {
    const minute = 29_400_000 // 2025-11
    const ns = minute * 60e9
    const mins = historyMinutes([{ minute_ns: ns, heartbeats: 3, events: 1, dropped: 0 }], ns - 60e9, ns + 1e9)
    expect(mins.map((x) => x.m?.heartbeats ?? null)).toEqual([null, 3])
  })
})

describe('host and node stores', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('loads every panel through apiQuery, and one failing panel leaves the others', async () => {
    const auth = useAuth()
    const calls: string[] = []
    vi.spyOn(auth, 'call').mockImplementation(async (path: string) => {
      calls.push(path)
      if (path.includes('/host/tcp')) throw new Error('no net')
      if (path.includes('/host/opens')) return { window: { from_ns: 0, to_ns: 1 }, comms: [], paths: [{ path: '/x', opens: 5, errors: 0 }] }
      return { window: { from_ns: 0, to_ns: 1 }, items: [], next_cursor: null, step_ns: 1, comms: [], series: [], syscalls: [] }
    })
    const host = useHost()
    await host.load(parseFilters({ range: '5m', comm: 'cat', node: 'n1' }))
    expect(calls.map((c) => c.split('?')[0]).sort()).toEqual([
      '/api/v1/query/host/opens',
      '/api/v1/query/host/processes',
      '/api/v1/query/host/sched',
      '/api/v1/query/host/syscalls',
      '/api/v1/query/host/tcp',
    ])
    for (const c of calls) expect(c).toContain('from=5m&node=n1&comm=cat')
    expect(calls.find((c) => c.includes('syscalls'))).toContain('sort=count')
    expect(host.opens.data?.paths[0].opens).toBe(5)
    expect(host.tcp.error).toBeInstanceOf(Error)
    expect(host.processes.error).toBeNull()

    calls.length = 0
    await host.sortSyscalls(parseFilters({ range: '5m' }), 'errors')
    expect(calls).toEqual(['/api/v1/query/host/syscalls?from=5m&limit=20&sort=errors'])
  })

  it('drops the answers of an older filter', async () => {
    const auth = useAuth()
    const resolvers: ((v: unknown) => void)[] = []
    vi.spyOn(auth, 'call').mockImplementation(
      (path: string) =>
        new Promise((resolve) => {
          if (path.includes('/host/opens')) resolvers.push(resolve)
          else resolve({ items: [], next_cursor: null, comms: [], series: [], syscalls: [] })
        }),
    )
    const host = useHost()
    const first = host.load(parseFilters({ comm: 'old' }))
    const second = host.load(parseFilters({ comm: 'new' }))
    resolvers[1]({ comms: [], paths: [{ path: '/new', opens: 1, errors: 0 }] })
    resolvers[0]({ comms: [], paths: [{ path: '/old', opens: 1, errors: 0 }] })
    await Promise.all([first, second])
    expect(host.opens.data?.paths[0].path).toBe('/new')
  })

  it('asks for a node by its name with the history from a time', async () => {
    const auth = useAuth()
    const spy = vi.spyOn(auth, 'call').mockResolvedValue({ name: 'gpu 1', state: 'up', report: {}, probes: {} })
    const node = useNode()
    await node.load('gpu 1', 1.5e18)
    expect(spy).toHaveBeenCalledWith('/api/v1/nodes/gpu%201?from=1500000000000000000')
    expect(node.node?.state).toBe('up')
  })
})
