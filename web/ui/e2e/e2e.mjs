// End to end: a real `scope up` (private data dir, a free port), the stand-in CUDA demo traced,
// and Debian's chromium (headless, driven by playwright-core) through the UI: log in, the fleet
// page shows this host up, the CUDA page draws the demo's kernels and opens a launch, the Host
// page shows the exact processes, opens and syscalls of a shell-loop workload and of
// syscall_workload, and the node page shows this host. Fails on a
// console error, a page error or a failed request; saves a screenshot of each page (checked to be
// no blank image) in $SCOPE_E2E_ARTIFACTS (default build/webui-e2e).
//
// env: SCOPE_BIN (the scope binary), SCOPE_TESTDATA_BIN (testdata's bin/ with cuda_demo),
//      (and syscall_workload), CHROMIUM (default /usr/bin/chromium). Needs root, as `scope up` does.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'

const repo = resolve(import.meta.dirname, '../../..')
const scopeBin = process.env.SCOPE_BIN ?? join(repo, 'build/scope')
const demoDir = process.env.SCOPE_TESTDATA_BIN ?? join(repo, 'build/testdata/bin')
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium'
const artifacts = process.env.SCOPE_E2E_ARTIFACTS ?? join(repo, 'build/webui-e2e')
mkdirSync(artifacts, { recursive: true })

const failures = []
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures.push(what)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const dir = mkdtempSync(join(tmpdir(), 'scope-webui-e2e-'))
const up = spawn(scopeBin, ['up', '--data-dir', dir, '--listen', '127.0.0.1:0', '--probes', 'cuda,exec,open,sched,syscalls,net'], {
  stdio: ['ignore', 'pipe', 'pipe'],
})
let upLog = ''
up.on('error', (e) => (upLog += `cannot start ${scopeBin}: ${e.message}\n`))
up.stdout.on('data', (d) => (upLog += d))
up.stderr.on('data', (d) => (upLog += d))
let browser
try {
  // scope up writes endpoint.json once it serves.
  let url = ''
  for (let i = 0; i < 600 && !url; i++) {
    if (up.exitCode !== null || up.pid === undefined) throw new Error(`scope up exited ${up.exitCode}:\n${upLog}`)
    try {
      url = JSON.parse(readFileSync(join(dir, 'endpoint.json'), 'utf8')).url ?? ''
    } catch {
      await sleep(100)
    }
  }
  if (!url) throw new Error(`scope up did not serve within 60 s:\n${upLog}`)
  const admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim()
  const user = 'e2e-admin'
  const password = 'correct horse battery staple'
  const reg = await fetch(`${url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: user, password }),
  })
  check(reg.status === 201, `register the first user (${reg.status})`)

  // The UI as scope serves it: caching, compression, security headers, history mode.
  const index = await fetch(`${url}/`, { headers: { 'Accept-Encoding': 'gzip' } })
  const html = await index.text()
  check(index.status === 200 && html.includes('<div id="app">'), 'GET / is the UI')
  check(index.headers.get('cache-control') === 'no-cache', 'index.html: Cache-Control: no-cache')
  check((index.headers.get('content-security-policy') ?? '').includes("script-src 'self'"), 'index.html: a CSP')
  check(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'index.html: no inline script')
  const asset = html.match(/\/assets\/index-[\w-]+\.js/)?.[0]
  const js = await fetch(`${url}${asset}`, { headers: { 'Accept-Encoding': 'gzip, deflate' } })
  check(js.status === 200 && (js.headers.get('content-type') ?? '').startsWith('text/javascript'), `${asset}: JavaScript`)
  check(js.headers.get('cache-control') === 'public, max-age=31536000, immutable', `${asset}: immutable`)
  check(js.headers.get('content-encoding') === 'gzip', `${asset}: gzip`)
  const deep = await fetch(`${url}/cuda/some/where?range=5m`)
  check(deep.status === 200 && (await deep.text()).includes('<div id="app">'), 'a UI path falls back to index.html')
  const api = await fetch(`${url}/api/v1/no-such-thing`)
  check(api.status === 404 && (api.headers.get('content-type') ?? '').startsWith('application/json'), '/api/* never falls back')

  // The stand-in CUDA demo, traced (its own session, as the integration tests run it).
  const demo = spawnSync('/usr/bin/setsid', ['--wait', join(demoDir, 'cuda_demo'), '--threads', '2'], { encoding: 'utf8', timeout: 60000 })
  check(demo.status === 0, `cuda_demo ran (${demo.status}) ${demo.stderr ?? ''}`)
  const login = await (
    await fetch(`${url}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify({ username: user, password }) })
  ).json()
  let kernels = 0
  for (let i = 0; i < 40 && kernels === 0; i++) {
    const r = await fetch(`${url}/api/v1/query/cuda/top-kernels?from=5m`, { headers: { Authorization: `Bearer ${login.access_token}` } })
    kernels = (await r.json()).kernels?.length ?? 0
    if (!kernels) await sleep(500)
  }
  check(kernels > 0, `the demo's kernels are stored (${kernels})`)

  browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] })
  const problems = []
  async function newPage(colorScheme) {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme })
    const page = await context.newPage()
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`))
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`))
    page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`))
    return page
  }
  // A screenshot that is an image of something: large enough and not one flat colour.
  async function shot(page, name, fullPage = true) {
    const file = join(artifacts, `${name}.png`)
    const png = await page.screenshot({ path: file, fullPage })
    const stats = await page.evaluate(async (b64) => {
      const img = new Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const c = document.createElement('canvas')
      c.width = img.width
      c.height = img.height
      const g = c.getContext('2d')
      g.drawImage(img, 0, 0)
      const d = g.getImageData(0, 0, c.width, c.height).data
      let sum = 0
      let sq = 0
      const n = d.length / 4
      for (let i = 0; i < d.length; i += 4) {
        const v = (d[i] + d[i + 1] + d[i + 2]) / 3
        sum += v
        sq += v * v
      }
      const mean = sum / n
      return { variance: sq / n - mean * mean }
    }, png.toString('base64'))
    check(png.length > 10000 && stats.variance > 50, `${name}.png is not blank (${png.length} bytes, variance ${stats.variance.toFixed(0)})`)
  }

  const page = await newPage('light')
  await page.goto(`${url}/cuda?range=5m`)
  await page.waitForURL(/\/login\?next=/)
  check(true, 'an unauthenticated page goes to the login')
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', 'wrong password here')
  await page.click('button[type=submit]')
  await page.waitForSelector('.login .error')
  check((await page.textContent('.login .error')).includes('Wrong'), 'a wrong password says so')
  problems.length = 0 // the 401 of the wrong password was expected
  await shot(page, 'login')
  await page.fill('input[name=password]', password)
  await page.click('button[type=submit]')
  const cuda5m = (u) => u.pathname === '/cuda' && u.searchParams.get('range') === '5m' && !u.searchParams.has('next')
  await page.waitForURL(cuda5m)
  await page.waitForSelector('.ranges button.active >> text=5 m')
  check(true, 'login goes back to the page asked for')

  await page.click('nav >> text=Fleet')
  await page.waitForSelector('.node[data-state=up]', { timeout: 20000 })
  const state = await page.textContent('.node [data-test=state]')
  check(state?.trim() === 'up', `the fleet shows this host up (${state})`)
  check((await page.locator('.switches input[data-family=cuda]').isChecked()) === true, 'the admin sees the cuda switch on')
  await shot(page, 'fleet')
  // An admin's switch: exec off (PUT .../probes), the node applies it, the switch stays off.
  const put = page.waitForResponse((r) => r.url().endsWith('/probes') && r.request().method() === 'PUT')
  await page.locator('.switches input[data-family=exec]').uncheck()
  const putStatus = (await put).status()
  check(putStatus === 202, `the exec switch stores a plan (${putStatus})`)
  await page.waitForFunction(
    () => ![...document.querySelectorAll('.node .families .chip')].some((c) => c.textContent.trim() === 'exec'),
    null,
    { timeout: 20000 },
  )
  check(!(await page.locator('.switches input[data-family=exec]').isChecked()), 'the node stopped exec and the switch is off')
  await page.locator('.switches input[data-family=exec]').check()

  await page.click('nav >> text=CUDA')
  await page.waitForURL(cuda5m)
  await page.waitForSelector('.ranges button.active >> text=5 m')
  await page.waitForSelector('[data-test=launches] tbody tr[tabindex]', { timeout: 20000 })
  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 2)
  await sleep(800) // the charts' first animation
  const rows = await page.locator('[data-test=launches] tbody tr[tabindex]').count()
  check(rows > 0, `the launches table has rows (${rows})`)
  await shot(page, 'cuda')
  await page.locator('[data-test=launches] tbody tr[tabindex]').first().click()
  await page.waitForSelector('[data-test=drawer] dl')
  const drawer = await page.textContent('[data-test=drawer]')
  check(drawer.includes('cuda_demo'), 'the launch drawer shows the process')
  await shot(page, 'cuda-launch', false)
  await page.keyboard.press('Escape')
  await page.click('.ranges >> text=24 h')
  await page.waitForURL((u) => u.searchParams.get('range') === '24h')
  check(true, 'the range picker writes the URL')

  // --- host page ---------------------------------------------------------------------------
  // A shell loop under names of its own (copies of sh and cat): 5 children that open a marker
  // file and exit 0, a 6th that fails to open a missing file and exits 1. Then syscall_workload
  // (1234 getppid calls). The page must show exactly these numbers.
  const bearer = { Authorization: `Bearer ${login.access_token}` }
  const apiGet = async (path) => (await fetch(`${url}${path}`, { headers: bearer })).json()
  // The fleet checks above switched exec off and on again: wait until the node runs it.
  for (let i = 0; i < 100; i++) {
    const { nodes } = await apiGet('/api/v1/nodes')
    if (['exec', 'open', 'syscalls'].every((f) => nodes?.[0]?.report?.running?.includes(f))) break
    await sleep(200)
  }
  const wl = mkdtempSync(join(tmpdir(), 'scope-webui-e2e-wl-'))
  try {
    copyFileSync('/bin/sh', join(wl, 'scopehostwl'))
    copyFileSync('/bin/cat', join(wl, 'scopecat'))
    spawnSync('chmod', ['755', join(wl, 'scopehostwl'), join(wl, 'scopecat')])
    const marker = join(wl, 'marker')
    const missing = join(wl, 'missing')
    writeFileSync(marker, 'scope\n')
    // No locale in the environment: cat opens no locale files, only the marker and its libraries.
    const loop = spawnSync(
      join(wl, 'scopehostwl'),
      ['-c', 'for i in 1 2 3 4 5; do "$0" "$1" >/dev/null; done; "$0" "$2" 2>/dev/null; exit 0', join(wl, 'scopecat'), marker, missing],
      { encoding: 'utf8', timeout: 30000, env: { PATH: '/usr/bin:/bin' } },
    )
    check(loop.status === 0, `the shell loop ran (${loop.status})`)
    const shPid = loop.pid
    const sw = spawnSync(join(demoDir, 'syscall_workload'), [], { encoding: 'utf8', timeout: 30000, cwd: wl, env: { PATH: '/usr/bin:/bin' } })
    check(sw.status === 0, `syscall_workload ran (${sw.status})`)
    // Stored? The children's exits, the marker's opens and the getppid calls, by the API.
    let stored = {}
    for (let i = 0; i < 60; i++) {
      const procs = await apiGet('/api/v1/query/host/processes?from=5m&comm=scopecat')
      const opens = await apiGet('/api/v1/query/host/opens?from=5m&comm=scopecat')
      const sys = await apiGet('/api/v1/query/host/syscalls?from=5m&comm=syscall_workloa')
      stored = {
        exits: (procs.items ?? []).filter((p) => p.ppid === shPid && p.exit).length,
        marker: opens.paths?.find((p) => p.path === marker)?.opens ?? 0,
        getppid: sys.syscalls?.find((s) => s.name === 'getppid')?.count ?? 0,
      }
      if (stored.exits === 6 && stored.marker === 5 && stored.getppid === 1234) break
      await sleep(500)
    }
    check(stored.exits === 6 && stored.marker === 5 && stored.getppid === 1234, `the workloads are stored (${JSON.stringify(stored)})`)

    await page.click('nav >> text=Host')
    await page.waitForURL((u) => u.pathname === '/host' && u.searchParams.get('range') === '24h')
    await page.click('.ranges >> text=5 m')
    await page.waitForURL((u) => u.pathname === '/host' && u.searchParams.get('range') === '5m')
    // The tree: the loop's shell, and under it its 6 children, 5 exit 0 and 1 exit 1.
    const shRow = `[data-test=processes] tr[data-pid="${shPid}"]`
    // Oldest first, 500 a page: other processes of this host may come first.
    const findShRow = async () => {
      for (let i = 0; i < 20 && !(await page.locator(shRow).count()); i++) {
        await page.waitForSelector('[data-test=processes] .more', { timeout: 20000 })
        const more = page.locator('[data-test=processes] .more button:not([disabled])')
        if (await more.count()) await more.click()
        else await sleep(300)
      }
      await page.waitForSelector(shRow, { timeout: 20000 })
    }
    await findShRow()
    check((await page.textContent(`${shRow} button.proc`)).includes('scopehostwl'), 'the process tree lists the loop shell')
    const kids = page.locator(`[data-test=processes] tr[data-ppid="${shPid}"]`)
    const kidRows = await kids.evaluateAll((rows) =>
      rows.map((r) => ({
        comm: r.querySelector('button.proc').textContent.trim().split(/\s+/)[0],
        depth: r.dataset.depth,
        exit: r.querySelector('[data-test=exit]').textContent.trim(),
        argv: r.children[1].textContent.trim(),
      })),
    )
    const shDepth = Number(await page.getAttribute(shRow, 'data-depth'))
    check(kidRows.length === 6, `the loop shell has 6 children in the tree (${kidRows.length})`)
    check(kidRows.every((k) => k.comm === 'scopecat' && Number(k.depth) === shDepth + 1), 'each one level under the shell, as scopecat')
    check(
      kidRows.filter((k) => k.exit === '0' && k.argv.endsWith(`scopecat ${marker}`)).length === 5,
      `5 children cat the marker and exit 0 (${kidRows.map((k) => k.exit).join(' ')})`,
    )
    check(kidRows.filter((k) => k.exit === '1' && k.argv.endsWith(`scopecat ${missing}`)).length === 1, 'the 6th exits 1')

    // Opens, filtered by comm through the filter bar: the marker exactly 5 times, the missing file once, failed.
    await page.fill('input[name=comm]', 'scopecat')
    await page.click('.filters button[type=submit]')
    await page.waitForURL((u) => u.searchParams.get('comm') === 'scopecat')
    const markerRow = `[data-test=paths] tr[data-path="${marker}"]`
    await page.waitForSelector(markerRow, { timeout: 20000 })
    check((await page.textContent(`${markerRow} [data-test=opens]`)).trim() === '5', 'the opens table: the marker opened 5 times by scopecat')
    check((await page.textContent(`${markerRow} [data-test=errors]`)).trim() === '0', 'the marker: no failed open')
    const missingRow = `[data-test=paths] tr[data-path="${missing}"]`
    check(
      (await page.textContent(`${missingRow} [data-test=opens]`)).trim() === '1' &&
        (await page.textContent(`${missingRow} [data-test=errors]`)).trim() === '1',
      'the missing file: opened once, failed once',
    )
    const comms = await page.locator('[data-test=comms] tr[data-comm]').evaluateAll((rows) => rows.map((r) => r.dataset.comm))
    check(comms.length === 1 && comms[0] === 'scopecat', `the opens by command: only scopecat (${comms})`)
    check((await page.locator('[data-test=comms] .chart canvas').count()) === 1, 'the opens pie is drawn')

    // Syscalls of syscall_workload (its comm is cut to 15 characters): getppid exactly 1234 times.
    await page.fill('input[name=comm]', 'syscall_workloa')
    await page.click('.filters button[type=submit]')
    await page.waitForURL((u) => u.searchParams.get('comm') === 'syscall_workloa')
    const getppid = '[data-test=syscall-table] tr[data-syscall=getppid] [data-test=count]'
    await page.waitForSelector(getppid, { timeout: 20000 })
    check((await page.textContent(getppid)).trim() === '1,234', `the syscalls table: getppid 1,234 times (${await page.textContent(getppid)})`)
    const sortBy = page.waitForResponse((r) => r.url().includes('/host/syscalls') && r.url().includes('sort=errors'))
    await page.click('[data-test=syscalls] .ranges >> text=Errors')
    check((await sortBy).status() === 200, 'the syscalls sort asks the API again')
    await page.waitForSelector('[data-test=syscalls] .ranges button[aria-pressed=true] >> text=Errors')
    await sleep(300) // the answer's render
    const errs = (await page.locator('[data-test=syscall-table] [data-test=errors]').allTextContents()).map((t) => Number(t.replace(/,/g, '')))
    check(errs.length > 0 && errs[0] >= 8 && errs.every((e, i) => i === 0 || e <= errs[i - 1]), `by errors, most first (${errs.join(' ')})`)
    await page.click('[data-test=sched] .ranges >> text=Off-CPU')
    await page.waitForSelector('[data-test=sched] .chart canvas, [data-test=sched] .state', { timeout: 20000 })

    // A comm nothing ran under: every panel says so and names the family to check.
    await page.fill('input[name=comm]', 'scopenothing')
    await page.click('.filters button[type=submit]')
    await page.waitForURL((u) => u.searchParams.get('comm') === 'scopenothing')
    await page.waitForSelector('[data-test=tcp] .state.empty', { timeout: 20000 })
    for (const [panel, words, family] of [
      ['processes', 'No process started', 'exec'],
      ['opens', 'No file opens seen', 'open'],
      ['sched', 'No scheduling seen', 'sched'],
      ['syscalls', 'No syscalls seen', 'syscalls'],
      ['tcp', 'No TCP connections seen', 'net'],
    ]) {
      await page.waitForSelector(`[data-test=${panel}] .state.empty`, { timeout: 20000 })
      const text = await page.textContent(`[data-test=${panel}] .state.empty`)
      check(text.includes(words) && text.includes(`${family} probe`) && text.includes('clear the'), `empty ${panel}: "${words}", the ${family} probe, the filters`)
    }

    // Back to every command, then the screenshot; a click on a process sets the pid filter.
    await page.click('[data-test=clear-comm]')
    await page.waitForURL((u) => u.pathname === '/host' && !u.searchParams.has('comm'))
    await findShRow()
    await page.waitForFunction(() => document.querySelectorAll('.host .chart canvas').length >= 3, null, { timeout: 20000 })
    await sleep(800)
    await shot(page, 'host')
    // Keyboard: the process's button takes focus and Enter sets the filter.
    await page.locator(`${shRow} button.proc`).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL((u) => u.searchParams.get('pid') === String(shPid))
    check(true, 'a process (by keyboard) sets the pid filter')
    await page.waitForSelector(`[data-test=processes] tbody tr[data-pid="${shPid}"]`)
    const pidRows = await page.locator('[data-test=processes] tbody tr[data-pid]').count()
    check(pidRows === 1, `with the pid filter, the tree is that process (${pidRows} row)`)
    await page.click('[data-test=clear-pid]')
    await page.waitForURL((u) => !u.searchParams.has('pid'))
  } finally {
    rmSync(wl, { recursive: true, force: true })
  }

  // --- node page ---------------------------------------------------------------------------
  await page.click('nav >> text=Fleet')
  await page.waitForSelector('.node[data-state=up] [data-test=node-link]', { timeout: 20000 })
  const nodeName = (await page.textContent('.node [data-test=node-link]')).trim()
  await page.click('.node [data-test=node-link]')
  await page.waitForURL((u) => u.pathname === `/nodes/${encodeURIComponent(nodeName)}`)
  await page.waitForSelector('.node-page [data-test=state]', { timeout: 20000 })
  check((await page.textContent('.node-page [data-test=state]')).trim() === 'up', 'the node page shows the node up')
  const chips = await page.locator('.node-page [data-test=families] .chip').allTextContents()
  check(
    ['cuda', 'exec', 'open', 'sched', 'syscalls', 'net'].every((f) => chips.map((c) => c.trim()).includes(f)),
    `the node page lists the running families (${chips.join(' ')})`,
  )
  check(/\d/.test(await page.textContent('.node-page [data-test=events]')), 'the node page shows events/s')
  await page.waitForSelector('.node-page [data-test=liveness] .chart canvas')
  check(/^Up \d/.test((await page.textContent('.node-page [data-test=uptime]')).trim()), 'the node page says how long it was up')
  await sleep(800)
  await shot(page, 'node')
  await page.click('.node-page [data-test=to-host]')
  await page.waitForURL((u) => u.pathname === '/host' && u.searchParams.get('node') === nodeName)
  check(true, 'the node page links to the Host page with node= set')
  await page.waitForSelector('[data-test=processes] tbody tr[data-pid]', { timeout: 20000 })
  // --- end of host and node pages ----------------------------------------------------------

  const dark = await newPage('dark')
  await dark.goto(`${url}/login`)
  await dark.fill('input[name=username]', user)
  await dark.fill('input[name=password]', password)
  await dark.click('button[type=submit]')
  await dark.waitForURL(/\/fleet/)
  await dark.waitForSelector('.node[data-state=up]', { timeout: 20000 })
  await shot(dark, 'fleet-dark')
  await dark.goto(`${url}/cuda?range=5m`).catch(() => undefined)
  // A reload loses the in-memory tokens: the login comes back, which is what it should do.
  await dark.waitForURL(/\/login/)
  await dark.fill('input[name=username]', user)
  await dark.fill('input[name=password]', password)
  await dark.click('button[type=submit]')
  await dark.waitForSelector('[data-test=launches] tbody tr[tabindex]', { timeout: 20000 })
  await dark.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 2)
  await sleep(800)
  await shot(dark, 'cuda-dark')
  // --- host and node pages, dark ---------------------------------------------------------
  await dark.click('nav >> text=Host')
  await dark.waitForSelector('[data-test=processes] tbody tr[data-pid]', { timeout: 20000 })
  await dark.waitForFunction(() => document.querySelectorAll('.host .chart canvas').length >= 3, null, { timeout: 20000 })
  await sleep(800)
  await shot(dark, 'host-dark')
  await dark.click('nav >> text=Fleet')
  await dark.click('.node [data-test=node-link]')
  await dark.waitForSelector('.node-page [data-test=liveness] .chart canvas', { timeout: 20000 })
  await sleep(800)
  await shot(dark, 'node-dark')
  // --- end of host and node pages, dark ---------------------------------------------------

  check(problems.length === 0, `no console errors or failed requests${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`)
} catch (e) {
  failures.push(String(e?.stack ?? e))
  console.log(`FAIL ${e?.stack ?? e}`)
} finally {
  await browser?.close().catch(() => undefined)
  if (up.pid !== undefined && up.exitCode === null) {
    up.kill('SIGTERM')
    await new Promise((r) => (up.exitCode !== null ? r() : up.once('exit', r)))
  }
  writeFileSync(join(artifacts, 'scope-up.log'), upLog)
  rmSync(dir, { recursive: true, force: true })
}
console.log(failures.length ? `webui e2e: ${failures.length} failed (screenshots in ${artifacts})` : `webui e2e: passed (screenshots in ${artifacts})`)
process.exit(failures.length ? 1 : 0)
