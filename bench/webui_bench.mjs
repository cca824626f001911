// The web UI's numbers (issue 14; BENCHMARKS.md, "Web UI"): a real `scope up` on a store that
// query_bench filled with N synthetic events (an hour that ends about now), driven by Debian's
// chromium (headless, playwright-core from web/ui/node_modules):
//   - initial JavaScript: the gzip bytes of the scripts index.html loads before any lazy import
//     (as scope serves them, Accept-Encoding: gzip), and the CSS beside them;
//   - first contentful paint of a hard load of /login and of each main page's URL (a fresh
//     browser context each time: tokens live in the page's memory, so a hard load of a main page
//     paints the login), LOADS times each;
//   - per page (fleet, CUDA, LLM, Host, node, admin SQL), LOADS in-app navigations (the router
//     from a page with no data to the page, its chunks cached after the first): the time of every
//     /api/v1 request the page makes (PerformanceResourceTiming: responseEnd - startTime), the
//     time until its last request answered ("data") and until its data is drawn (its panels out
//     of their loading state, its page-specific elements present, held for 300 ms of frames);
//     p50/p95 of each;
//   - the points the series endpoints answer for the 1 h and 24 h windows (server-side
//     downsampling) and the most points one answer of each page holds (what its largest chart
//     draws; the Host page's is its process tree's rows).
//   WEBUI_BENCH_DEBUG=1 logs each request, console message and page error.
// Prints one JSON object per result and a summary table on stderr.
//
//   node bench/webui_bench.mjs STORE_DIR [LOADS]      (STORE_DIR/query_bench.db; see webui_bench.sh)
// env: SCOPE_BIN (default build/scope), CHROMIUM (default /usr/bin/chromium). Needs root.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const repo = resolve(import.meta.dirname, '..')
const { chromium } = createRequire(join(repo, 'web/ui/package.json'))('playwright-core')
const scopeBin = process.env.SCOPE_BIN ?? join(repo, 'build/scope')
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium'
const storeDir = resolve(process.argv[2] ?? join(repo, 'build/webui-bench-store'))
const loads = Number(process.argv[3] ?? 20)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const db = join(storeDir, 'query_bench.db')
if (!existsSync(db)) throw new Error(`no ${db}: fill it first (bench/webui_bench.sh)`)

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.max(0, Math.ceil(q * s.length) - 1)] : NaN // nearest rank: of 20, p95 is the 19th
}
const r1 = (x) => Math.round(x * 10) / 10
const results = []
const emit = (o) => {
  results.push(o)
  console.log(JSON.stringify(o))
}

// A data dir of its own whose scope.db is the filled store (SQLite follows the link; its -wal
// and -shm files stay beside query_bench.db).
const dir = mkdtempSync(join(tmpdir(), 'scope-webui-bench-'))
symlinkSync(db, join(dir, 'scope.db'))
const up = spawn(scopeBin, ['up', '--data-dir', dir, '--listen', '127.0.0.1:0', '--probes', 'exec', '--retention', '0'], {
  stdio: ['ignore', 'pipe', 'pipe'],
})
let upLog = ''
up.stdout.on('data', (d) => (upLog += d))
up.stderr.on('data', (d) => (upLog += d))
let browser
try {
  let url = ''
  for (let i = 0; i < 1200 && !url; i++) {
    if (up.exitCode !== null) throw new Error(`scope up exited ${up.exitCode}:\n${upLog}`)
    try {
      url = JSON.parse(readFileSync(join(dir, 'endpoint.json'), 'utf8')).url ?? ''
    } catch {
      await sleep(100)
    }
  }
  if (!url) throw new Error(`scope up did not serve within 120 s:\n${upLog}`)
  const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim()
  const user = 'bench-admin'
  const password = 'correct horse battery staple'
  const reg = await fetch(`${url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: user, password }),
  })
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`)
  const login = await (await fetch(`${url}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify({ username: user, password }) })).json()
  const bearer = { headers: { Authorization: `Bearer ${login.access_token}` } }
  const apiGet = async (path) => {
    const t = performance.now()
    const r = await fetch(`${url}${path}`, bearer)
    const body = await r.json()
    return { status: r.status, ms: performance.now() - t, body }
  }
  const count = await (
    await fetch(`${url}/api/v1/sql`, { method: 'POST', headers: { ...bearer.headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ query: 'SELECT count(*) FROM cuda_events' }) })
  ).json()
  emit({ bench: 'webui', what: 'store', cuda_events: count.rows?.[0]?.[0], db })

  // --- initial JavaScript ---
  const html = await (await fetch(`${url}/`)).text()
  const scripts = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g), ...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => m[1])
  const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => m[1])
  const gzBytes = async (path) => {
    const r = await fetch(`${url}${path}`, { headers: { 'Accept-Encoding': 'gzip' } })
    const len = Number(r.headers.get('content-length'))
    const enc = r.headers.get('content-encoding')
    await r.arrayBuffer()
    return enc === 'gzip' ? len : NaN
  }
  let js = 0
  for (const s of scripts) js += await gzBytes(s)
  let css = 0
  for (const s of styles) css += await gzBytes(s)
  emit({ bench: 'webui', what: 'initial_js', scripts, js_gzip_bytes: js, css_gzip_bytes: css, target_bytes: 300 * 1024, met: js <= 300 * 1024 })

  browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] })
  const newContext = () => browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' })

  // --- first contentful paint of a hard load ---
  for (const path of ['/login', '/fleet', '/cuda', '/llm', '/host', '/admin/sql']) {
    const fcps = []
    for (let i = 0; i < loads; i++) {
      const ctx = await newContext()
      const p = await ctx.newPage()
      await p.goto(`${url}${path}`, { waitUntil: 'load' })
      const fcp = await p.evaluate(
        () =>
          new Promise((res) => {
            const e = performance.getEntriesByName('first-contentful-paint')[0]
            if (e) return res(e.startTime)
            new PerformanceObserver((l) => res(l.getEntries()[0].startTime)).observe({ type: 'paint', buffered: true })
          }),
      )
      fcps.push(fcp)
      await ctx.close()
    }
    emit({ bench: 'webui', what: 'fcp', path, loads, p50_ms: r1(pct(fcps, 0.5)), p95_ms: r1(pct(fcps, 0.95)), max_ms: r1(Math.max(...fcps)), target_ms: 1000 })
  }

  // --- each page's data: in-app navigations in one logged-in page ---
  const ctx = await newContext()
  // Requests open, counted by a wrapper of fetch (the UI's one way to the API).
  await ctx.addInitScript(() => {
    window.__apiOpen = 0
    const f = window.fetch
    window.fetch = (...a) => {
      window.__apiOpen++
      return f(...a).finally(() => window.__apiOpen--)
    }
  })
  const page = await ctx.newPage()
  const problems = []
  if (process.env.WEBUI_BENCH_DEBUG) page.on('request', (r) => r.url().includes('/api/') && console.error('request', r.url()))
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  if (process.env.WEBUI_BENCH_DEBUG) page.on('pageerror', (e) => console.error('page error', e.message, e.stack))
  if (process.env.WEBUI_BENCH_DEBUG) page.on('console', (m) => console.error('console', m.type(), m.text()))
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`))
  await page.goto(`${url}/login?next=/no-data-here`)
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', password)
  await page.click('button[type=submit]')
  await page.waitForURL(/\/no-data-here/)
  await page.evaluate(() => performance.setResourceTimingBufferSize(100000))
  const nodes = (await apiGet('/api/v1/nodes')).body.nodes ?? []
  const hostNode = nodes.find((n) => n.name !== 'bench-node')?.name ?? nodes[0]?.name
  // The SQL page: the launches per kernel of the data's last 5 minutes (the README's example
  // query, bounded in time).
  const sqlQuery =
    "SELECT kernel, count(*) AS launches FROM cuda_events WHERE op = 'launch' AND ts_ns >= (SELECT max(ts_ns) FROM cuda_events) - 300000000000 GROUP BY kernel ORDER BY launches DESC LIMIT 10"
  // Each page: its path, the elements that say its data is drawn, what to do to get data.
  const pages = [
    { name: 'fleet', path: '/fleet', ready: ['.node[data-state]'] },
    { name: 'cuda', path: '/cuda', ready: ['[data-test=launches] tbody tr[tabindex]'], charts: 2 },
    { name: 'llm', path: '/llm', ready: ['[data-test=llm-kpis]'], charts: 1 },
    { name: 'host', path: '/host', ready: ['[data-test=processes] tbody tr[data-pid]'], charts: 3 },
    { name: 'node', path: `/nodes/${encodeURIComponent(hostNode)}`, ready: ['.node-page [data-test=liveness] .chart canvas'], charts: 1 },
    { name: 'admin-sql', path: '/admin/sql', ready: ['[data-test=sql-result] tbody td'], sql: sqlQuery },
  ]
  // Points in an answer: each array of numbers, of [t, v] pairs or of objects with a ts_ns (a
  // series) counts its length; the total of the answer and its longest series.
  const countPoints = (b) => {
    let total = 0
    let longest = 0
    const walk = (x, key) => {
      if (Array.isArray(x)) {
        const first = x[0]
        const series =
          key !== 'window' &&
          x.length > 0 &&
          (typeof first === 'number' || first === null || Array.isArray(first) || (first && typeof first === 'object' && ('ts_ns' in first || 'minute_ns' in first)))
        if (series) {
          total += x.length
          longest = Math.max(longest, x.length)
        }
        if (!series || (first && typeof first === 'object' && !Array.isArray(first))) x.forEach((y) => walk(y, key))
      } else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, k)
    }
    walk(b, '')
    return { total, longest }
  }
  const summary = []
  for (const pg of pages) {
    const perEndpoint = new Map()
    const dataMs = []
    const drawnMs = []
    let maxPoints = 0
    for (let i = 0; i < loads; i++) {
      await page.evaluate(() => document.querySelector('#app').__vue_app__.config.globalProperties.$router.push('/no-data-here'))
      await page.waitForURL(/\/no-data-here/)
      await page.evaluate(() => performance.clearResourceTimings())
      let t0
      if (pg.sql) {
        await page.evaluate((p) => document.querySelector('#app').__vue_app__.config.globalProperties.$router.push(p), pg.path)
        await page.waitForSelector('[data-test=sql-input]')
        await page.fill('[data-test=sql-input]', pg.sql)
        await page.evaluate(() => performance.clearResourceTimings())
        t0 = await page.evaluate(() => performance.now())
        await page.press('[data-test=sql-input]', 'Control+Enter')
      } else {
        t0 = await page.evaluate((p) => {
          const t = performance.now()
          document.querySelector('#app').__vue_app__.config.globalProperties.$router.push(p)
          return t
        }, pg.path)
      }
      // Drawn: the page's elements present, its charts' canvases there, nothing loading, no
      // /api/v1 request open, for 300 ms of frames; the time is the first frame of that stretch.
      const drawn = await page.evaluate(
        ({ ready, charts }) =>
          new Promise((res, rej) => {
            let since = null
            const start = performance.now()
            const open = () => window.__apiOpen > 0
            const tick = () => {
              const now = performance.now()
              const ok =
                ready.every((s) => document.querySelector(s)) &&
                document.querySelectorAll('.chart canvas').length >= charts &&
                !document.querySelector('.state.loading, [aria-busy=true]') &&
                !open()
              if (ok && since === null) since = now
              if (!ok) since = null
              if (since !== null && now - since >= 300) return res(since)
              if (now - start > 30000)
                return rej(
                  new Error(
                    `not drawn in 30 s: ${JSON.stringify({ ready: ready.map((s) => !!document.querySelector(s)), charts: document.querySelectorAll('.chart canvas').length, loading: document.querySelector('.state.loading, [aria-busy=true]')?.outerHTML, open: window.__apiOpen, url: location.href })}`,
                  ),
                )
              requestAnimationFrame(tick)
            }
            requestAnimationFrame(tick)
          }),
        { ready: pg.ready, charts: pg.charts ?? 0 },
      )
      const entries = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => e.name.includes('/api/v1/'))
          .map((e) => ({ name: e.name, start: e.startTime, end: e.responseEnd })),
      )
      if (process.env.WEBUI_BENCH_DEBUG) console.error(pg.name, t0, JSON.stringify(entries))
      let last = t0
      for (const e of entries) {
        if (e.start < t0 - 1) continue
        const u = new URL(e.name)
        const key = `${u.pathname.replace(/^\/api\/v1/, '').replace(/\/nodes\/[^/]+$/, '/nodes/{name}')}`
        const arr = perEndpoint.get(key) ?? []
        arr.push(e.end - e.start)
        perEndpoint.set(key, arr)
        last = Math.max(last, e.end)
      }
      dataMs.push(last - t0)
      drawnMs.push(drawn - t0)
      // The most points the page's answers hold (every series of one answer, summed; on the
      // last load): what its largest chart draws.
      if (i === loads - 1)
        for (const e of entries)
          if (e.start >= t0 - 1 && !e.name.includes('/api/v1/sql')) {
            const u = new URL(e.name)
            maxPoints = Math.max(maxPoints, countPoints((await apiGet(u.pathname + u.search)).body).total)
          }
    }
    const endpoints = Object.fromEntries(
      [...perEndpoint].map(([k, v]) => [k, { n: v.length, p50_ms: r1(pct(v, 0.5)), p95_ms: r1(pct(v, 0.95)) }]),
    )
    const allReq = [...perEndpoint.values()].flat()
    const o = {
      bench: 'webui',
      what: 'page',
      page: pg.name,
      path: pg.path,
      loads,
      request_p50_ms: r1(pct(allReq, 0.5)),
      request_p95_ms: r1(pct(allReq, 0.95)),
      data_p50_ms: r1(pct(dataMs, 0.5)),
      data_p95_ms: r1(pct(dataMs, 0.95)),
      drawn_p50_ms: r1(pct(drawnMs, 0.5)),
      drawn_p95_ms: r1(pct(drawnMs, 0.95)),
      first_load_drawn_ms: r1(drawnMs[0]),
      max_chart_points: maxPoints,
      endpoints,
      data_ms: dataMs.map(r1),
      drawn_ms: drawnMs.map(r1),
    }
    emit(o)
    summary.push(o)
  }
  await ctx.close()

  // --- the series endpoints' points: downsampled on the server ---
  for (const ep of ['/cuda/launch-rate?limit=8', '/host/sched?limit=8', '/llm/tokens', '/cuda/memory?limit=10', '/llm/memory?limit=10']) {
    for (const from of ['1h', '1d']) {
      const r = await apiGet(`/api/v1/query${ep}${ep.includes('?') ? '&' : '?'}from=${from}`)
      const pts = countPoints(r.body)
      emit({ bench: 'webui', what: 'series_points', endpoint: ep, from, status: r.status, ms: r1(r.ms), answer_bytes: JSON.stringify(r.body).length, points_total: pts.total, longest_series: pts.longest, step: r.body.step_ns ?? r.body.step ?? r.body.bucket_ns ?? null })
    }
  }
  const nd = await apiGet(`/api/v1/nodes/${encodeURIComponent(hostNode)}?from=${(Date.now() - 86400000) * 1e6}`)
  emit({ bench: 'webui', what: 'series_points', endpoint: '/nodes/{name}', from: '1d', status: nd.status, ms: r1(nd.ms), points_total: countPoints(nd.body).total, longest_series: countPoints(nd.body).longest })

  if (problems.length) emit({ bench: 'webui', what: 'problems', problems: problems.slice(0, 20) })
  console.error('\npage        requests p50/p95   data p50/p95   drawn p50/p95   first drawn  max points')
  for (const o of summary)
    console.error(
      `${o.page.padEnd(11)} ${`${o.request_p50_ms}/${o.request_p95_ms}`.padEnd(18)} ${`${o.data_p50_ms}/${o.data_p95_ms}`.padEnd(14)} ${`${o.drawn_p50_ms}/${o.drawn_p95_ms}`.padEnd(15)} ${String(o.first_load_drawn_ms).padEnd(12)} ${o.max_chart_points}`,
    )
} finally {
  await browser?.close().catch(() => undefined)
  up.kill('SIGTERM')
  await new Promise((r) => (up.exitCode !== null ? r() : up.on('exit', r)))
  rmSync(dir, { recursive: true, force: true })
}
