// Who is logged in, and their tokens. Kept in memory only (never in localStorage, where any
// script of the origin could read them): a reload asks for the password again. The access
// token (15 minutes) is refreshed a minute before it expires and once on a 401; refresh tokens
// rotate at every use (the API revokes a session whose spent token comes back).
import { defineStore } from 'pinia'

export interface User {
  id: number
  name: string
  role: 'admin' | 'viewer'
  created_ns: number
}

export interface Tokens {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  user: User
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message)
  }
}

// The API's {"error": {"code", "message"}} as an ApiError (or a plain one for other bodies).
export async function errorOf(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status
  let message = `${res.status} ${res.statusText}`
  try {
    const body = await res.json()
    if (body && body.error) {
      code = body.error.code ?? code
      message = body.error.message ?? message
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, message)
}

type Fetch = typeof fetch

export const useAuth = defineStore('auth', {
  state: () => ({
    user: null as User | null,
    access: '',
    refresh: '',
    expiresAt: 0, // ms since the epoch
    timer: 0 as ReturnType<typeof setTimeout> | 0,
    refreshing: null as Promise<boolean> | null,
  }),
  getters: {
    loggedIn: (s) => s.user !== null && s.access !== '',
    isAdmin: (s) => s.user?.role === 'admin',
  },
  actions: {
    accept(t: Tokens, now = Date.now()) {
      this.user = t.user
      this.access = t.access_token
      this.refresh = t.refresh_token
      this.expiresAt = now + t.expires_in * 1000
      if (this.timer) clearTimeout(this.timer)
      // A minute early (at least 5 s from now), so that no request carries an expired token.
      const wait = Math.max(5000, t.expires_in * 1000 - 60000)
      this.timer = setTimeout(() => void this.renew(), wait)
    },
    clear() {
      if (this.timer) clearTimeout(this.timer)
      this.timer = 0
      this.user = null
      this.access = ''
      this.refresh = ''
      this.expiresAt = 0
    },
    async login(username: string, password: string, f: Fetch = fetch) {
      const res = await f('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
      if (!res.ok) throw await errorOf(res)
      this.accept((await res.json()) as Tokens)
    },
    // A new account with an admin's invite (POST /api/v1/auth/register), then logged in as it.
    async register(username: string, password: string, invite: string, f: Fetch = fetch) {
      const res = await f('/api/v1/auth/register', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username, password, invite }),
      })
      if (!res.ok) throw await errorOf(res)
      // Read to the end: a body left unread is cancelled (a failed request) when the page leaves.
      const user = (await res.json()) as User
      await this.login(username, password, f)
      return user
    },
    // A new token pair from the refresh token; false (and logged out) when the session is over.
    // Concurrent callers share one request: a refresh token works once.
    renew(f: Fetch = fetch): Promise<boolean> {
      if (this.refreshing) return this.refreshing
      if (!this.refresh) return Promise.resolve(false)
      const token = this.refresh
      this.refreshing = (async () => {
        try {
          const res = await f('/api/v1/auth/refresh', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ refresh_token: token }),
          })
          if (!res.ok) {
            this.clear()
            return false
          }
          this.accept((await res.json()) as Tokens)
          return true
        } catch {
          return false
        } finally {
          this.refreshing = null
        }
      })()
      return this.refreshing
    },
    async logout(f: Fetch = fetch) {
      const access = this.access
      this.clear()
      if (access)
        await f('/api/v1/auth/logout', {
          method: 'POST',
          headers: { Authorization: `Bearer ${access}` },
        }).catch(() => undefined)
    },
    // An authenticated request: the answer when it is ok, else an ApiError. One 401 tries a
    // refresh; a second logs out.
    async send(path: string, init: RequestInit = {}, f: Fetch = fetch): Promise<Response> {
      const attempt = () =>
        f(path, {
          ...init,
          headers: {
            ...(init.body ? { 'Content-Type': 'application/json' } : {}),
            ...(init.headers as Record<string, string> | undefined),
            Authorization: `Bearer ${this.access}`,
          },
        })
      let res = await attempt()
      if (res.status === 401 && (await this.renew(f))) res = await attempt()
      if (!res.ok) {
        const err = await errorOf(res)
        if (res.status === 401) this.clear()
        throw err
      }
      return res
    },
    // An authenticated call to the API: JSON back, or an ApiError.
    async call<T>(path: string, init: RequestInit = {}, f: Fetch = fetch): Promise<T> {
      const res = await this.send(path, init, f)
      if (res.status === 204) return undefined as T
      return (await res.json()) as T
    },
    // An authenticated GET whose answer is a file: its bytes and the name the server gave it
    // (Content-Disposition), or an ApiError.
    async download(path: string, f: Fetch = fetch): Promise<{ blob: Blob; filename: string }> {
      const res = await this.send(path, {}, f)
      const disposition = res.headers.get('Content-Disposition') ?? ''
      const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'scope.pftrace'
      return { blob: await res.blob(), filename }
    },
  },
})
