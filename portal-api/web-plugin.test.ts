import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { defaultWebDir, portalWeb, type PortalWebOptions } from './web-plugin.js'

async function appWith(t: Test, options: PortalWebOptions = {}, prefix = '/portal'): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(portalWeb, { ...options, prefix })
  await app.ready()
  return app
}

t.test('serves the page with the API base filled in and strict security headers', async (t) => {
  const app = await appWith(t, { apiBase: '/api/' })
  const res = await app.inject({ method: 'GET', url: '/portal/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html; charset=utf-8/)
  t.match(res.body, '<meta name="wristpay-api-base" content="/api">', 'the trailing slash is dropped')
  t.notMatch(res.body, '%WRISTPAY_API_BASE%')
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, "default-src 'none'")
  t.match(csp, "script-src 'self'")
  t.match(csp, "frame-ancestors 'none'")
  t.notMatch(csp, 'unsafe-inline')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['referrer-policy'], 'no-referrer')
  t.equal(res.headers['x-frame-options'], 'DENY')
})

t.test('the page loads nothing from another origin and has no inline script or style', async (t) => {
  const app = await appWith(t)
  const html = (await app.inject({ method: 'GET', url: '/portal/' })).body
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  t.ok(urls.includes('app.js') && urls.includes('style.css'))
  t.same(urls.filter((u) => /^(https?:)?\/\//.test(u)), [])
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
  t.notMatch(html, /<style|\sstyle="/, 'no inline style')
  const js = (await app.inject({ method: 'GET', url: '/portal/app.js' })).body
  t.notMatch(js, /https?:\/\//, 'the script fetches nothing absolute')
  t.notMatch(js, /innerHTML|insertAdjacentHTML|document\.write/, 'server text never becomes HTML')
})

t.test('each file of the page with its type', async (t) => {
  const app = await appWith(t)
  for (const [url, type] of [
    ['/portal/app.js', /^text\/javascript/],
    ['/portal/style.css', /^text\/css/],
    ['/portal/icon.svg', /^image\/svg\+xml/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], type, url)
    t.equal(res.body, readFileSync(join(defaultWebDir(), url.slice('/portal/'.length)), 'utf8'), `${url} is the file`)
  }
})

t.test('/portal without the slash redirects to /portal/, keeping the query', async (t) => {
  const app = await appWith(t)
  const res = await app.inject({ method: 'GET', url: '/portal?order_uuid=0190a5c2-7c1e-7000-8000-000000000001' })
  t.equal(res.statusCode, 301)
  t.equal(res.headers.location, '/portal/?order_uuid=0190a5c2-7c1e-7000-8000-000000000001')
})

t.test('an unchanged file is answered 304 for its etag', async (t) => {
  const app = await appWith(t)
  const first = await app.inject({ method: 'GET', url: '/portal/app.js' })
  const etag = String(first.headers.etag)
  t.match(etag, /^"[A-Za-z0-9_-]+"$/)
  t.equal(first.headers['cache-control'], 'no-cache')
  const again = await app.inject({ method: 'GET', url: '/portal/app.js', headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  const stale = await app.inject({ method: 'GET', url: '/portal/app.js', headers: { 'if-none-match': '"something-else"' } })
  t.equal(stale.statusCode, 200)
})

t.test('nothing outside the allow-list is served: unknown files, traversal, source files', async (t) => {
  const app = await appWith(t)
  for (const url of [
    '/portal/web-plugin.ts',
    '/portal/index.html.bak',
    '/portal/../package.json',
    '/portal/%2e%2e/package.json',
    '/portal/..%2fpackage.json',
    '/portal/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/portal//etc/passwd',
    '/portal/app.js/',
    '/portal/APP.JS',
    '/portal/web/app.js',
  ]) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, url)
    t.notMatch(res.body, /"name": "wristpay"|root:/, `${url} leaks nothing`)
  }
  const post = await app.inject({ method: 'POST', url: '/portal/', payload: {} })
  t.equal(post.statusCode, 404, 'only GET (and HEAD)')
})

t.test('an apiBase that is not a plain absolute path is refused at start', async (t) => {
  for (const apiBase of ['api', 'https://evil.example/api', '//evil.example', '/api"><script>', '/a/../b', '/api?x=1']) {
    const app = Fastify({ logger: false })
    t.teardown(() => app.close())
    await t.rejects(async () => app.register(portalWeb, { apiBase, prefix: '/portal' }).ready(), /apiBase must be an absolute path/, apiBase)
  }
})

t.test('a web folder whose index.html has no API marker is refused at start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-web-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of ['app.js', 'style.css', 'icon.svg']) writeFileSync(join(dir, name), '')
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>')
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await t.rejects(async () => app.register(portalWeb, { webDir: dir, prefix: '/portal' }).ready(), /no %WRISTPAY_API_BASE% marker/)
})
