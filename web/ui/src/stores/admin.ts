// The admin pages' data and the rules they share with the registration page: users, invites,
// nodes (enroll, remove), the SQL console and the audit log, each as the API allows it.
import { defineStore } from 'pinia'
import { ApiError, useAuth, type User } from './auth'

// --- registration: the server's rules, said before the server has to refuse ---

export const USERNAME_RULE = '1 to 64 of a-z, 0-9, ".", "_" and "-"'
export const PASSWORD_RULE = '10 to 1024 bytes'

export function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).length
}
// '' when the name is one the server takes (POST /api/v1/auth/register's pattern).
export function usernameProblem(name: string): string {
  if (!name) return 'Pick a user name.'
  if (/[A-Z]/.test(name) && /^[A-Za-z0-9._-]{1,64}$/.test(name)) return 'User names are lower case.'
  return /^[a-z0-9._-]{1,64}$/.test(name) ? '' : `User name: ${USERNAME_RULE}.`
}
export function passwordProblem(password: string, repeat?: string): string {
  const n = utf8Bytes(password)
  if (n < 10) return `Password: at least 10 bytes (${n} so far).`
  if (n > 1024) return `Password: at most 1024 bytes (${n}).`
  if (repeat !== undefined && repeat !== password) return 'The two passwords differ.'
  return ''
}
// A failed registration, said so that the person knows what to do.
export function registerErrorText(e: unknown): string {
  if (!(e instanceof ApiError)) return `Could not register: ${e instanceof Error ? e.message : String(e)}`
  switch (e.status) {
    case 400:
      return `The server refused this: ${e.message}.`
    case 403:
      return /invite/.test(e.message)
        ? 'This invite is unknown, used or expired: ask an admin for a new one.'
        : `Registration refused: ${e.message}.`
    case 409:
      return `${e.message[0].toUpperCase()}${e.message.slice(1)}: pick another name (the invite still works).`
    case 413:
      return 'That is too long for the server.'
    case 429:
      return `Too many tries: ${e.message}.`
    case 503:
      return 'The server is busy checking passwords: try again in a moment.'
    default:
      return `Could not register: ${e.message}`
  }
}
// The link an invitee opens: this UI's registration page with the invite filled in.
export function inviteLink(origin: string, invite: string): string {
  return `${origin}/register?invite=${encodeURIComponent(invite)}`
}

// --- nodes ---

export interface NodeCreated {
  name: string
  enrollment_token: string
  expires_ns: number
}
export const NODE_NAME_RULE = '1 to 64 of A-Z, a-z, 0-9, ".", "_" and "-", not starting with "." or "-"'
export function nodeNameProblem(name: string): string {
  if (!name) return 'Name the node.'
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(name) ? '' : `Node name: ${NODE_NAME_RULE}.`
}
// What to run on the node: the token in a private file (argv is visible to every user), then
// the agent, which enrolls with it and ships to Redis.
export function enrollCommands(server: string, created: NodeCreated): string {
  return [
    `umask 077; printf '%s\\n' '${created.enrollment_token}' > scope-enroll.token`,
    `scope agent --enroll-file scope-enroll.token --server ${server} --redis redis://REDIS_HOST:6379`,
  ].join('\n')
}

// --- SQL console ---

export type SqlValue = string | number | null
export interface SqlResult {
  columns: string[]
  rows: SqlValue[][]
  truncated: boolean
  truncated_by?: 'rows' | 'bytes'
}
export const SQL_MAX_ROWS = 100000

// Ctrl+Enter (⌘+Enter on a Mac) runs the statement.
export function isRunKey(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey'>): boolean {
  return e.key === 'Enter' && (e.ctrlKey || e.metaKey)
}
export function sqlCell(v: SqlValue): string {
  return v === null ? 'NULL' : String(v)
}
// A failed statement: what kind of failure, and what to do about it.
export function sqlErrorText(e: unknown): { title: string; detail: string; hint: string } {
  if (!(e instanceof ApiError))
    return { title: 'No answer', detail: e instanceof Error ? e.message : String(e), hint: 'Is scope still running?' }
  const m = e.message
  if (e.status === 413) return { title: 'Too long', detail: m, hint: 'A statement is at most 256 KiB.' }
  if (e.status === 403) return { title: 'Admins only', detail: m, hint: 'The SQL console needs the admin role.' }
  if (/cancel|timeout|timed out/i.test(m))
    return { title: 'Timed out', detail: m, hint: 'Raise the time limit, or narrow the query (a shorter ts_ns range, a LIMIT).' }
  if (/read-only|not authorized|not readable|permission denied|one statement at a time/i.test(m))
    return {
      title: 'Refused',
      detail: m,
      hint: "The console runs one read-only statement over scope's tables (SELECT, WITH): nothing that writes.",
    }
  if (e.status === 400) return { title: 'The store could not run it', detail: m, hint: '' }
  return { title: `Failed (${e.status})`, detail: m, hint: '' }
}
export function truncationText(r: SqlResult, maxRows: number): string {
  if (!r.truncated) return ''
  if (r.truncated_by === 'bytes') return 'Cut at 64 MiB: select fewer columns or rows.'
  return `Only the first ${maxRows} rows: raise the row limit (at most ${SQL_MAX_ROWS}) or add a LIMIT.`
}

// --- audit ---

export interface AuditEntry {
  ts_ns: string
  actor: string
  action: string
  target: string
  remote: string
  outcome: string
  detail: string
}

export const useAdmin = defineStore('admin', {
  state: () => ({
    users: [] as User[],
    usersLoaded: false,
    usersLoading: false,
    usersError: null as unknown,
    busy: {} as Record<string, boolean>,
    // Invites made here: the API keeps only their hashes and cannot list them.
    invites: [] as { invite: string; role: 'admin' | 'viewer'; created_ms: number }[],
    audit: [] as AuditEntry[],
    auditLoaded: false,
    auditLoading: false,
    auditError: null as unknown,
  }),
  actions: {
    async loadUsers() {
      this.usersLoading = true
      try {
        const r = await useAuth().call<{ users: User[] }>('/api/v1/users')
        this.users = [...r.users].sort((a, b) => a.name.localeCompare(b.name))
        this.usersError = null
        this.usersLoaded = true
      } catch (e) {
        this.usersError = e
      } finally {
        this.usersLoading = false
      }
    },
    async act(key: string, work: () => Promise<unknown>) {
      this.busy[key] = true
      try {
        await work()
      } finally {
        delete this.busy[key]
      }
    },
    revokeSessions(name: string) {
      return this.act(`revoke/${name}`, () =>
        useAuth().call(`/api/v1/users/${encodeURIComponent(name)}/revoke`, { method: 'POST' }),
      )
    },
    deleteUser(name: string) {
      return this.act(`delete/${name}`, async () => {
        await useAuth().call(`/api/v1/users/${encodeURIComponent(name)}`, { method: 'DELETE' })
        this.users = this.users.filter((u) => u.name !== name)
      })
    },
    async createInvite(role: 'admin' | 'viewer') {
      const r = await useAuth().call<{ invite: string; role: 'admin' | 'viewer' }>('/api/v1/auth/invites', {
        method: 'POST',
        body: JSON.stringify({ role }),
      })
      this.invites.unshift({ ...r, created_ms: Date.now() })
      return r
    },
    async loadAudit(limit = 200) {
      this.auditLoading = true
      try {
        const r = await useAuth().call<{ entries: AuditEntry[] }>(`/api/v1/audit?limit=${limit}`)
        this.audit = r.entries
        this.auditError = null
        this.auditLoaded = true
      } catch (e) {
        this.auditError = e
      } finally {
        this.auditLoading = false
      }
    },
  },
})

export function createNode(name: string): Promise<NodeCreated> {
  return useAuth().call<NodeCreated>('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name }) })
}
export function removeNode(name: string): Promise<void> {
  return useAuth().call<void>(`/api/v1/nodes/${encodeURIComponent(name)}`, { method: 'DELETE' })
}
export function runSql(query: string, maxRows: number, timeoutMs?: number): Promise<SqlResult> {
  const body: Record<string, unknown> = { query, max_rows: maxRows }
  if (timeoutMs) body.timeout_ms = timeoutMs
  return useAuth().call<SqlResult>('/api/v1/sql', { method: 'POST', body: JSON.stringify(body) })
}
// scope up serves its own host and enrolls no node; scope server does. GET /health says which.
export async function serverRole(f: typeof fetch = fetch): Promise<string> {
  try {
    const r = await f('/health')
    return r.ok ? (((await r.json()) as { role?: string }).role ?? '') : ''
  } catch {
    return ''
  }
}
