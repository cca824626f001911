import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { ApiError, useAuth, type Tokens } from './auth'
import { toggledPlan, droppedTotal, type NodeInfo } from './nodes'
import { rateSeries } from './cuda'

function tokens(n: number): Tokens {
  return {
    access_token: `access-${n}`,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: `refresh-${n}`,
    user: { id: 1, name: 'ana', role: 'admin', created_ns: 1 },
  }
}
function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

describe('auth store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.clearAllTimers()
    vi.useRealTimers()
  })

  it('logs in and keeps the tokens in memory', async () => {
    const auth = useAuth()
    const f = vi.fn(async () => json(200, tokens(1)))
    await auth.login('ana', 'correct horse battery', f as unknown as typeof fetch)
    expect(auth.loggedIn).toBe(true)
    expect(auth.isAdmin).toBe(true)
    expect(auth.access).toBe('access-1')
    expect(f).toHaveBeenCalledWith('/api/v1/auth/login', expect.objectContaining({ method: 'POST' }))
  })

  it('reports the API error of a failed login', async () => {
    const auth = useAuth()
    const f = async () => json(401, { error: { code: 'unauthorized', message: 'wrong user name or password' } })
    await expect(auth.login('ana', 'nope', f as typeof fetch)).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    expect(auth.loggedIn).toBe(false)
  })

  it('refreshes once on a 401 and retries with the new token; concurrent calls share the refresh', async () => {
    const auth = useAuth()
    auth.accept(tokens(1))
    let refreshes = 0
    const f = vi.fn(async (url: string, init?: RequestInit) => {
      if (url === '/api/v1/auth/refresh') {
        refreshes++
        expect(JSON.parse(String(init?.body))).toEqual({ refresh_token: 'refresh-1' })
        return json(200, tokens(2))
      }
      const auth = (init?.headers as Record<string, string>).Authorization
      return auth === 'Bearer access-2' ? json(200, { ok: true }) : json(401, { error: { code: 'unauthorized', message: 'expired' } })
    })
    const [a, b] = await Promise.all([
      auth.call<{ ok: boolean }>('/api/v1/nodes', {}, f as unknown as typeof fetch),
      auth.call<{ ok: boolean }>('/api/v1/auth/me', {}, f as unknown as typeof fetch),
    ])
    expect(a.ok && b.ok).toBe(true)
    expect(refreshes).toBe(1)
    expect(auth.refresh).toBe('refresh-2')
  })

  it('logs out when the refresh token is refused', async () => {
    const auth = useAuth()
    auth.accept(tokens(1))
    const f = async () => json(401, { error: { code: 'unauthorized', message: 'revoked' } })
    await expect(auth.call('/api/v1/nodes', {}, f as typeof fetch)).rejects.toBeInstanceOf(ApiError)
    expect(auth.loggedIn).toBe(false)
  })

  it('downloads a file with the token, named as the server says, refreshing once on a 401', async () => {
    const auth = useAuth()
    auth.accept(tokens(1))
    const bytes = new Uint8Array([10, 3, 8, 0, 1])
    const f = vi.fn(async (url: string, init?: RequestInit) => {
      if (url === '/api/v1/auth/refresh') return json(200, tokens(2))
      const token = (init?.headers as Record<string, string>).Authorization
      if (token !== 'Bearer access-2') return json(401, { error: { code: 'unauthorized', message: 'expired' } })
      return new Response(bytes, {
        status: 200,
        headers: { 'Content-Disposition': 'attachment; filename="scope-gpu-1.pftrace"' },
      })
    })
    const got = await auth.download('/api/v1/export/perfetto?from=5m', f as unknown as typeof fetch)
    expect(got.filename).toBe('scope-gpu-1.pftrace')
    expect(new Uint8Array(await got.blob.arrayBuffer())).toEqual(bytes)
    const bad = async () => json(400, { error: { code: 'bad_request', message: 'the store holds several nodes' } })
    await expect(auth.download('/api/v1/export/perfetto', bad as unknown as typeof fetch)).rejects.toThrow(
      'the store holds several nodes',
    )
  })

  it('renews the access token a minute before it expires', async () => {
    const auth = useAuth()
    const f = vi.fn(async () => json(200, tokens(2)))
    auth.accept(tokens(1))
    // The timer uses the global fetch: stand it in.
    vi.stubGlobal('fetch', f)
    await vi.advanceTimersByTimeAsync(840_000)
    expect(f).toHaveBeenCalledTimes(1)
    expect(auth.access).toBe('access-2')
    vi.unstubAllGlobals()
  })
})

describe('nodes and cuda helpers', () => {
  const node: NodeInfo = {
    name: 'gpu-1',
    state: 'up',
    report: { running: ['cuda', 'exec'], dropped: { kernel: 2, queue_full: 3 } },
    probes: { desired: { version: 1, plan: { families: ['cuda', 'exec'], comm: 'ollama' }, updated_by: 'a', updated_ns: 1 }, applied: null, pending: false },
  }
  it('toggles one family and keeps the filters of the plan', () => {
    expect(toggledPlan(node, 'llama', true)).toEqual({ families: ['cuda', 'llama', 'exec'], comm: 'ollama' })
    expect(toggledPlan(node, 'cuda', false)).toEqual({ families: ['exec'], comm: 'ollama' })
    expect(droppedTotal(node)).toBe(5)
  })
  it('fills the buckets a kernel had no launch in', () => {
    const s = rateSeries(
      [
        { ts_ns: 10e9, kernel: 'k', launches: 5, total_ns: 1 },
        { ts_ns: 20e9, kernel: 'k', launches: 10, total_ns: 1 },
      ],
      5e9,
      { from_ns: 10e9, to_ns: 25e9 },
    )
    expect(s).toHaveLength(1)
    expect(s[0].points).toEqual([
      [10_000, 1],
      [15_000, 0],
      [20_000, 2],
    ])
  })
})
