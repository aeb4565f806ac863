// Serves the kiosk's touchscreen UI (daemon/web/: plain HTML, CSS and one
// script; no build step, no framework, nothing from elsewhere) on the local
// API: `/ui/` is the page, `/` sends the browser there. Chromium in kiosk mode
// on the Pi opens http://127.0.0.1:8090/ and the page talks to the local API
// on the same origin.
//
// The page is three small fixed files, read once when the plugin is
// registered and served from memory by an allow-list: no path from a request
// ever reaches the file system, so there is no directory traversal to guard
// against. Nothing is cached by the browser (`no-store`): after an update the
// kiosk shows the new page on the next load.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'

export interface WebUiOptions {
  /** The folder with index.html, app.js and style.css. Default: `web/` next to this module, or the source tree's daemon/web. */
  webDir?: string
}

/** The files of the page and their types; everything else is the API's 404. */
export const WEB_UI_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}

/** Scripts and styles from these files only, requests to this origin only, never framed, no forms posted anywhere. */
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
  const files = new Map<string, { body: Buffer; contentType: string }>()
  for (const [name, contentType] of Object.entries(WEB_UI_FILES)) {
    files.set(name, { body: readFileSync(join(webDir, name)), contentType })
  }
  const hidden = { schema: { hide: true } }
  const serve = (name: string) => {
    const file = files.get(name)!
    return async (_request: unknown, reply: FastifyReply) => securityHeaders(reply).type(file.contentType).send(file.body)
  }

  // The page's relative URLs (app.js, style.css) need the trailing slash.
  app.get('/', hidden, async (_request, reply) => securityHeaders(reply).redirect('/ui/', 302))
  app.get('/ui', hidden, async (_request, reply) => securityHeaders(reply).redirect('/ui/', 301))
  app.get('/ui/', hidden, serve('index.html'))
  for (const name of Object.keys(WEB_UI_FILES)) {
    if (name !== 'index.html') app.get(`/ui/${name}`, hidden, serve(name))
  }
}
