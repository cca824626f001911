import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { ApiError, useAuth } from './stores/auth'
import {
  enrollCommands,
  inviteLink,
  isRunKey,
  nodeNameProblem,
  passwordProblem,
  registerErrorText,
  serverRole,
  sqlCell,
  sqlErrorText,
  truncationText,
  usernameProblem,
} from './stores/admin'
import { nextTheme, parseTheme } from './theme'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

describe('registration rules', () => {
  it('takes the names the server takes', () => {
    expect(usernameProblem('ana.b_c-1')).toBe('')
    expect(usernameProblem('')).toMatch(/Pick/)
    expect(usernameProblem('Ana')).toMatch(/lower case/)
    expect(usernameProblem('ana b')).toMatch(/a-z/)
    expect(usernameProblem('a'.repeat(64))).toBe('')
    expect(usernameProblem('a'.repeat(65))).toMatch(/1 to 64/)
  })
  it('counts a password in bytes, as the server does, and compares the repeat', () => {
    expect(passwordProblem('short')).toMatch(/at least 10 bytes \(5/)
    expect(passwordProblem('ééééé')).toBe('') // 10 bytes in UTF-8
    expect(passwordProblem('x'.repeat(1025))).toMatch(/at most 1024/)
    expect(passwordProblem('correct horse', 'correct horse')).toBe('')
    expect(passwordProblem('correct horse', 'correct house')).toMatch(/differ/)
  })
  it("says what to do about the server's refusals", () => {
    expect(registerErrorText(new ApiError(403, 'forbidden', 'the invite is unknown, used or expired'))).toMatch(
      /ask an admin for a new one/,
    )
    expect(registerErrorText(new ApiError(409, 'conflict', "the username 'ana' is taken"))).toBe(
      "The username 'ana' is taken: pick another name (the invite still works).",
    )
    expect(registerErrorText(new ApiError(400, 'bad_input', 'password: 10 to 1024 bytes'))).toMatch(/10 to 1024 bytes/)
    expect(registerErrorText(new ApiError(429, 'throttled', 'retry in 4 s'))).toMatch(/Too many tries/)
    expect(registerErrorText(new TypeError('Failed to fetch'))).toMatch(/Failed to fetch/)
  })
  it('links to the registration page with the invite escaped', () => {
    expect(inviteLink('http://h:1', 'scope_inv_a+b/c')).toBe('http://h:1/register?invite=scope_inv_a%2Bb%2Fc')
  })
})

describe('auth.register', () => {
  beforeEach(() => setActivePinia(createPinia()))
  it('registers with the invite, then logs in', async () => {
    const auth = useAuth()
    const calls: string[] = []
    const f = vi.fn(async (url: string, init?: RequestInit) => {
      calls.push(url)
      if (url === '/api/v1/auth/register') {
        expect(JSON.parse(String(init?.body))).toEqual({ username: 'bo', password: 'correct horse', invite: 'scope_inv_x' })
        return json(201, { id: 2, name: 'bo', role: 'viewer', created_ns: 1 })
      }
      return json(200, {
        access_token: 'a',
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: 'r',
        user: { id: 2, name: 'bo', role: 'viewer', created_ns: 1 },
      })
    })
    await auth.register('bo', 'correct horse', 'scope_inv_x', f as unknown as typeof fetch)
    expect(calls).toEqual(['/api/v1/auth/register', '/api/v1/auth/login'])
    expect(auth.loggedIn && !auth.isAdmin).toBe(true)
    auth.clear()
  })
  it('does not log in when the invite is refused', async () => {
    const auth = useAuth()
    const f = vi.fn(async () => json(403, { error: { code: 'forbidden', message: 'the invite is unknown, used or expired' } }))
    await expect(auth.register('bo', 'correct horse', 'x', f as unknown as typeof fetch)).rejects.toMatchObject({ status: 403 })
    expect(f).toHaveBeenCalledTimes(1)
    expect(auth.loggedIn).toBe(false)
  })
})

describe('SQL console', () => {
  it('runs on Ctrl+Enter or Cmd+Enter only', () => {
    expect(isRunKey({ key: 'Enter', ctrlKey: true, metaKey: false })).toBe(true)
    expect(isRunKey({ key: 'Enter', ctrlKey: false, metaKey: true })).toBe(true)
    expect(isRunKey({ key: 'Enter', ctrlKey: false, metaKey: false })).toBe(false)
    expect(isRunKey({ key: 'a', ctrlKey: true, metaKey: false })).toBe(false)
  })
  it('tells a refusal, a timeout and a plain error apart', () => {
    expect(sqlErrorText(new ApiError(400, 'query_failed', 'read-only: the store accepts queries only')).title).toBe('Refused')
    expect(sqlErrorText(new ApiError(400, 'query_failed', 'table auth_users is not readable through the SQL API')).title).toBe(
      'Refused',
    )
    expect(sqlErrorText(new ApiError(400, 'query_failed', 'one statement at a time')).title).toBe('Refused')
    const t = sqlErrorText(new ApiError(400, 'query_failed', 'query cancelled after 50 ms'))
    expect(t.title).toBe('Timed out')
    expect(t.hint).toMatch(/time limit/)
    expect(sqlErrorText(new ApiError(400, 'query_failed', 'no such column: foo')).title).toBe('The store could not run it')
    expect(sqlErrorText(new ApiError(413, 'too_large', 'body too large')).title).toBe('Too long')
    expect(sqlErrorText(new ApiError(403, 'forbidden', 'admin only')).title).toBe('Admins only')
  })
  it('says what cut a result', () => {
    expect(truncationText({ columns: [], rows: [], truncated: false }, 10)).toBe('')
    expect(truncationText({ columns: [], rows: [], truncated: true, truncated_by: 'rows' }, 10)).toMatch(/first 10 rows/)
    expect(truncationText({ columns: [], rows: [], truncated: true, truncated_by: 'bytes' }, 10)).toMatch(/64 MiB/)
    expect(sqlCell(null)).toBe('NULL')
    expect(sqlCell(0)).toBe('0')
  })
})

describe('nodes', () => {
  it("checks a node's name as the API does", () => {
    expect(nodeNameProblem('gpu-01.lab')).toBe('')
    expect(nodeNameProblem('_x')).toBe('')
    expect(nodeNameProblem('-x')).toMatch(/Node name/)
    expect(nodeNameProblem('')).toMatch(/Name the node/)
  })
  it('keeps the enrollment token off the command line', () => {
    const c = enrollCommands('http://10.0.0.1:8080', { name: 'gpu-1', enrollment_token: 'scope_enr_T', expires_ns: 1 })
    expect(c).toContain("printf '%s\\n' 'scope_enr_T' > scope-enroll.token")
    expect(c).toContain('scope agent --enroll-file scope-enroll.token --server http://10.0.0.1:8080')
    expect(c.split('\n')[1]).not.toContain('scope_enr_T')
  })
  it("reads the server's role from /health, or nothing", async () => {
    expect(await serverRole((async () => json(200, { status: 'ok', role: 'up' })) as unknown as typeof fetch)).toBe('up')
    expect(await serverRole((async () => { throw new TypeError('down') }) as unknown as typeof fetch)).toBe('')
  })
})

describe('theme', () => {
  it('cycles system, light, dark and ignores what it does not know', () => {
    expect(nextTheme('system')).toBe('light')
    expect(nextTheme('light')).toBe('dark')
    expect(nextTheme('dark')).toBe('system')
    expect(parseTheme('dark')).toBe('dark')
    expect(parseTheme('purple')).toBe('system')
    expect(parseTheme(null)).toBe('system')
  })
})
