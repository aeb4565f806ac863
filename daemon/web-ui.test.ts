import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { createLocalApi, type LocalApiKiosk } from './local-api.js'
import { WEB_UI_FILES, defaultWebUiDir, webUiPlugin } from './web-ui.js'

async function appWith(t: Test): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(webUiPlugin)
  await app.ready()
  return app
}

const onDisk = (name: string) => readFileSync(join(defaultWebUiDir(), name), 'utf8')

t.test('each file of the page with its type, a strict CSP and no caching', async (t) => {
  const app = await appWith(t)
  for (const [url, file, type] of [
    ['/ui/', 'index.html', /^text\/html; charset=utf-8/],
    ['/ui/app.js', 'app.js', /^text\/javascript; charset=utf-8/],
    ['/ui/style.css', 'style.css', /^text\/css; charset=utf-8/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], type, url)
    t.equal(res.body, onDisk(file), `${url} is ${file}`)
    t.equal(res.headers['cache-control'], 'no-store', `${url} is not cached`)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['referrer-policy'], 'no-referrer')
    const csp = String(res.headers['content-security-policy'])
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"]) {
      t.match(csp, directive, `${url}: ${directive}`)
    }
    t.notMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:|data:/, `${url}: nothing loose in the CSP`)
  }
  t.same(Object.keys(WEB_UI_FILES).sort(), ['app.js', 'index.html', 'style.css'])
})

t.test('HEAD works like GET', async (t) => {
  const app = await appWith(t)
  const res = await app.inject({ method: 'HEAD', url: '/ui/app.js' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/javascript/)
})

t.test('/ and /ui send the browser to /ui/', async (t) => {
  const app = await appWith(t)
  const root = await app.inject({ method: 'GET', url: '/' })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/ui/')
  const ui = await app.inject({ method: 'GET', url: '/ui' })
  t.equal(ui.statusCode, 301)
  t.equal(ui.headers.location, '/ui/')
})

t.test('nothing outside the allow-list is served: unknown files, traversal, source files', async (t) => {
  const app = await appWith(t)
  for (const url of [
    '/ui/index.html.bak',
    '/ui/web-ui.ts',
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/..%2fpackage.json',
    '/ui/..%2f..%2fpackage.json',
    '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/ui/....//....//etc/passwd',
    '/ui//etc/passwd',
    '/ui/app.js/',
    '/ui/APP.JS',
    '/ui/web/app.js',
    '/ui/app.js%00.html',
    '/ui/%5c..%5cpackage.json',
    '/ui/..\\package.json',
    '/web/app.js',
    '/daemon/web/app.js',
    '/app.js',
  ]) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, url)
    t.notMatch(res.body, /"name": "wristpay"|root:|webUiPlugin/, `${url} leaks nothing`)
  }
  const post = await app.inject({ method: 'POST', url: '/ui/', payload: {} })
  t.equal(post.statusCode, 404, 'only GET and HEAD')
})

t.test('the page loads nothing from elsewhere, has no inline script or style, never writes HTML from data', async (t) => {
  const html = onDisk('index.html')
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  t.same(urls.sort(), ['app.js', 'style.css'], 'only its own two files')
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
  t.notMatch(html, /<style|\sstyle="|\son[a-z]+="/, 'no inline style or handler')
  const js = onDisk('app.js')
  t.notMatch(js, /https?:\/\//, 'the script fetches nothing absolute')
  t.notMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, 'no HTML from strings, no eval')
  t.notMatch(onDisk('style.css'), /url\(|@import/, 'the style loads nothing')
  // data-testid names the end-to-end tests drive the page by.
  for (const id of ['offline-banner', 'tap-prompt', 'tap-cancel', 'result', 'result-balance', 'cart-pay', 'cart-total', 'error-message', 'error-type', 'login-start', 'logout', 'chain-banner', 'chain-confirm', 'enroll-banner', 'enroll-text']) {
    t.match(html, `data-testid="${id}"`, id)
  }
})

t.test('the local API serves the page under /ui/ next to its routes', async (t) => {
  const api = createLocalApi({
    kiosk: {} as LocalApiKiosk,
    state: () => ({ kiosk: 'bar-1' }),
    logger: pino({ level: 'silent' }),
    port: 0,
  })
  t.teardown(() => api.stop())
  const page = await api.app.inject({ method: 'GET', url: '/ui/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-security-policy'], "default-src 'none'")
  t.match(page.body, '<script type="module" src="app.js"></script>')
  const root = await api.app.inject({ method: 'GET', url: '/' })
  t.equal(root.headers.location, '/ui/')
  const state = await api.app.inject({ method: 'GET', url: '/state' })
  t.same(state.json(), { kiosk: 'bar-1' })
  const unknown = await api.app.inject({ method: 'GET', url: '/ui/secret.txt' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().type, 'not_found', "the API's own 404")
})
