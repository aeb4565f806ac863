// Serves the kiosk's touchscreen UI (daemon/web/: plain HTML, CSS and native
// ES modules, app.js with lib/ and screens/; no build step, no framework,
// nothing from elsewhere) on the local API: `/ui/` is the page, `/` sends the
// browser there. Chromium in kiosk mode on the Pi opens
// http://127.0.0.1:8090/ and the page talks to the local API on the same
// origin.
//
// The page is a fixed list of small files, read once when the plugin is
// registered and served from memory by an allow-list: no path from a request
// ever reaches the file system, so there is no directory traversal to guard
// against. A listed file that resolves outside the folder (a link to
// elsewhere) is refused when the plugin is registered. Nothing is cached by
// the browser (`no-store`): after an update the kiosk shows the new page on
// the next load.
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'

export interface WebUiOptions {
  /** The folder with the files of WEB_UI_FILES. Default: `web/` next to this module, or the source tree's daemon/web. */
  webDir?: string
}

const JAVASCRIPT = 'text/javascript; charset=utf-8'

/**
 * The files of the page (paths under the folder) and their types; everything
 * else is the API's 404. Every module app.js imports, directly or not, must be
 * here (web-ui.test.ts follows the imports).
 */
export const WEB_UI_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': JAVASCRIPT,
  'lib/api.js': JAVASCRIPT,
  'lib/dialogs.js': JAVASCRIPT,
  'lib/dom.js': JAVASCRIPT,
  'lib/money.js': JAVASCRIPT,
  'lib/operation.js': JAVASCRIPT,
  'lib/result.js': JAVASCRIPT,
  'lib/state.js': JAVASCRIPT,
  'lib/words.js': JAVASCRIPT,
  'screens/balance.js': JAVASCRIPT,
  'screens/cashout.js': JAVASCRIPT,
  'screens/login.js': JAVASCRIPT,
  'screens/sale.js': JAVASCRIPT,
  'screens/shift.js': JAVASCRIPT,
  'screens/status.js': JAVASCRIPT,
  'screens/tagswitch.js': JAVASCRIPT,
  'screens/ticket.js': JAVASCRIPT,
  'screens/topup.js': JAVASCRIPT,
}

/** Scripts (module scripts too: 'self' covers them) and styles from these files only, requests to this origin only, never framed, no forms posted anywhere. */
export const WEB_UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** `web/` next to this module (the source tree, or dist/daemon when the build copied it), else the source tree seen from dist/daemon. */
export function defaultWebUiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, 'web'), resolve(here, '../../daemon/web')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', WEB_UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-store')
}

export async function webUiPlugin(app: FastifyInstance, options: WebUiOptions = {}): Promise<void> {
  const webDir = options.webDir ?? defaultWebUiDir()
  const root = realpathSync(webDir)
  const files = new Map<string, { body: Buffer; contentType: string }>()
  for (const [name, contentType] of Object.entries(WEB_UI_FILES)) {
    const path = join(webDir, name)
    const real = realpathSync(path)
    if (!real.startsWith(root + sep)) throw new Error(`${path} resolves outside ${webDir} (a link to elsewhere?): the kiosk page serves only its own folder`)
    files.set(name, { body: readFileSync(real), contentType })
  }
  const hidden = { schema: { hide: true } }
  const serve = (name: string) => {
    const file = files.get(name)!
    return async (_request: unknown, reply: FastifyReply) => securityHeaders(reply).type(file.contentType).send(file.body)
  }

  // The page's relative URLs (app.js, style.css, and the modules' imports) need the trailing slash.
  app.get('/', hidden, async (_request, reply) => securityHeaders(reply).redirect('/ui/', 302))
  app.get('/ui', hidden, async (_request, reply) => securityHeaders(reply).redirect('/ui/', 301))
  app.get('/ui/', hidden, serve('index.html'))
  for (const name of Object.keys(WEB_UI_FILES)) {
    if (name !== 'index.html') app.get(`/ui/${name}`, hidden, serve(name))
  }
}
