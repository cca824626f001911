// End to end: a real `scope up` (private data dir, a free port), the stand-in CUDA demo traced,
// and Debian's chromium (headless, driven by playwright-core) through the UI: log in, the fleet
// page shows this host up, the CUDA page draws the demo's kernels and opens a launch. Fails on a
// console error, a page error or a failed request; saves a screenshot of each page (checked to be
// no blank image) in $SCOPE_E2E_ARTIFACTS (default build/webui-e2e).
//
// env: SCOPE_BIN (the scope binary), SCOPE_TESTDATA_BIN (testdata's bin/ with cuda_demo),
//      CHROMIUM (default /usr/bin/chromium). Needs root, as `scope up` does.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
const up = spawn(scopeBin, ['up', '--data-dir', dir, '--listen', '127.0.0.1:0', '--probes', 'cuda,exec'], {
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
