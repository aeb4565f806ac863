import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix, resolve } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import ts from 'typescript'
import { createLocalApi, type LocalApiKiosk } from './local-api.js'
import { WEB_UI_FILES, defaultWebUiDir, webUiPlugin } from './web-ui.js'

async function appWith(t: Test, webDir?: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(webUiPlugin, webDir === undefined ? {} : { webDir })
  await app.ready()
  return app
}

const onDisk = (name: string) => readFileSync(join(defaultWebUiDir(), name), 'utf8')

/** The page's module graph: app.js and every module it imports, directly or not (paths in the folder), and every import that is not a relative path to a .js file in the folder. */
function moduleGraph(): { modules: string[]; strayImports: string[] } {
  const modules = new Set<string>()
  const strayImports: string[] = []
  const visit = (name: string) => {
    if (modules.has(name)) return
    modules.add(name)
    for (const { fileName } of ts.preProcessFile(onDisk(name), true, true).importedFiles) {
      const target = posix.normalize(posix.join(posix.dirname(name), fileName))
      if (!/^\.\.?\//.test(fileName) || !fileName.endsWith('.js') || target.startsWith('../')) strayImports.push(`${name}: ${fileName}`)
      else visit(target)
    }
  }
  visit('app.js')
  return { modules: [...modules].sort(), strayImports }
}

/** Every .js file in the page's folder and below it. */
const scriptsOnDisk = () =>
  (readdirSync(defaultWebUiDir(), { recursive: true }) as string[]).map((name) => name.split('\\').join('/')).filter((name) => name.endsWith('.js')).sort()

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
  t.same(Object.keys(WEB_UI_FILES).filter((name) => !name.endsWith('.js')).sort(), ['index.html', 'style.css'])
})

t.test('every module app.js imports, directly or not, is served as JavaScript with the CSP; the allow-list and the folder hold no other script', async (t) => {
  const app = await appWith(t)
  const { modules, strayImports } = moduleGraph()
  t.ok(modules.length > 1 && modules.some((name) => name.startsWith('screens/')), 'app.js imports its screens')
  t.same(strayImports, [], 'every import is a relative path to a .js file in the folder')
  for (const name of modules) {
    const res = await app.inject({ method: 'GET', url: `/ui/${name}` })
    t.equal(res.statusCode, 200, name)
    t.match(res.headers['content-type'], /^text\/javascript; charset=utf-8/, `${name} is JavaScript (module scripts need a JavaScript type)`)
    t.equal(res.body, onDisk(name), `${name} is the file`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', name)
    t.match(String(res.headers['content-security-policy']), "script-src 'self'", name)
  }
  t.same(Object.keys(WEB_UI_FILES).filter((name) => name.endsWith('.js')).sort(), modules, 'the allow-list lists exactly the modules')
  t.same(scriptsOnDisk(), modules, 'no script in the folder that the page does not load')
})

t.test("the build's copy of the page (package.json scripts.build) holds every file the page serves", async (t) => {
  const repository = resolve(defaultWebUiDir(), '../..')
  const build = JSON.parse(readFileSync(join(repository, 'package.json'), 'utf8')).scripts.build as string
  const steps = build.split('&&').map((step) => step.trim()).filter((step) => step.includes('daemon/web'))
  t.ok(steps.length > 0, 'the build copies daemon/web')
  const out = mkdtempSync(join(tmpdir(), 'wristpay-web-ui-build-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  // The build's own steps, writing into a temporary dist/ instead of the repository's.
  execFileSync('sh', ['-c', steps.map((step) => step.replaceAll('dist/', `${out}/dist/`)).join(' && ')], { cwd: repository })
  for (const name of Object.keys(WEB_UI_FILES)) t.ok(existsSync(join(out, 'dist/daemon/web', name)), `dist/daemon/web/${name}`)
})

t.test('a listed file that links to outside the folder is refused when the plugin is registered; a linked folder is served', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-web-ui-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const webDir = join(dir, 'web')
  cpSync(defaultWebUiDir(), webDir, { recursive: true })
  symlinkSync(webDir, join(dir, 'linked-web'))
  const linked = await appWith(t, join(dir, 'linked-web'))
  t.equal((await linked.inject({ method: 'GET', url: '/ui/screens/sale.js' })).body, onDisk('screens/sale.js'), 'the folder itself may be a link')

  writeFileSync(join(dir, 'secret.js'), 'export const secret = "not for the page"')
  rmSync(join(webDir, 'lib', 'money.js'))
  symlinkSync(join(dir, 'secret.js'), join(webDir, 'lib', 'money.js'))
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  app.register(webUiPlugin, { webDir })
  await t.rejects(async () => app.ready(), /lib\/money\.js resolves outside/)
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
    '/ui/lib/',
    '/ui/screens',
    '/ui/screens/',
    '/ui/lib/api.js/',
    '/ui/LIB/api.js',
    '/ui/lib//api.js',
    '/ui/lib/api.ts',
    '/ui/lib/../../package.json',
    '/ui/screens/%2e%2e/%2e%2e/package.json',
    '/ui/screens/..%2f..%2fweb-ui.ts',
    '/ui/screens/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
    '/lib/api.js',
    '/screens/sale.js',
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
  for (const name of moduleGraph().modules) {
    const js = onDisk(name)
    t.notMatch(js, /https?:\/\//, `${name} fetches nothing absolute`)
    t.notMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|import\(/, `${name}: no HTML from strings, no eval, no dynamic import`)
  }
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
