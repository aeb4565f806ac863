// Serves the guest portal page (portal-api/web/: plain HTML, CSS and one ES
// module; no build step, no framework, nothing from a CDN) as a fastify plugin.
// The gateway mounts it under a prefix, e.g. `/portal`, next to the portal API.
//
// The page is a handful of small fixed files, so they are read once at start
// and served from memory by an allow-list: no path from the request ever
// reaches the file system, which rules out path traversal by construction.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import { sendServedFile, servedFile, type ServedFile } from './served-file.js'

export interface PortalWebOptions {
  /** Where the portal API is mounted, as the browser sees it (an absolute path). Default `/api`. */
  apiBase?: string
  /** The folder with index.html, app.js, style.css, icon.svg. Default: `web/` next to this module, or in the source tree. */
  webDir?: string
}

/** The files of the page and their types: everything else under the prefix is 404. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
}

/** Marker in index.html replaced by the API base (the page reads it from a meta tag). */
const API_BASE_MARKER = '%WRISTPAY_API_BASE%'
const API_BASE = /^\/[A-Za-z0-9/_.-]{0,200}$/

/**
 * The page loads nothing from elsewhere and is never framed. Navigation to the
 * payment provider's hosted checkout is a top-level navigation, which CSP
 * does not restrict.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** `web/` next to this module (source tree, or dist when the build copied it), else the source tree seen from dist/. */
export function defaultWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, 'web'), resolve(here, '../../portal-api/web')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!
}

function loadFiles(webDir: string, apiBase: string): Map<string, ServedFile> {
  const files = new Map<string, ServedFile>()
  for (const [name, contentType] of Object.entries(FILES)) {
    let body = readFileSync(join(webDir, name))
    if (name === 'index.html') {
      const html = body.toString('utf8')
      if (!html.includes(API_BASE_MARKER)) throw new Error(`${name} in ${webDir} has no ${API_BASE_MARKER} marker`)
      body = Buffer.from(html.replaceAll(API_BASE_MARKER, apiBase), 'utf8')
    }
    files.set(name, servedFile(body, contentType))
  }
  return files
}

export const portalWeb: FastifyPluginAsync<PortalWebOptions> = async (scope, options) => {
  const apiBase = (options.apiBase ?? '/api').replace(/\/+$/, '') || '/'
  if (!API_BASE.test(apiBase) || apiBase.includes('//') || apiBase.split('/').includes('..')) {
    throw new Error(`portal web: apiBase must be an absolute path like /api, got ${JSON.stringify(options.apiBase)}`)
  }
  const files = loadFiles(options.webDir ?? defaultWebDir(), apiBase)
  const hidden = { schema: { hide: true } }

  // `/portal` without the slash would make the page's relative URLs (app.js) resolve against `/`.
  scope.get('', hidden, async (request, reply) => {
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : ''
    return reply.redirect(`${request.url.split('?')[0]}/${query}`, 301)
  })
  scope.get('/', { ...hidden, prefixTrailingSlash: 'slash' }, async (request, reply) => sendServedFile(request, reply, CONTENT_SECURITY_POLICY, files.get('index.html')!))
  for (const name of Object.keys(FILES)) {
    if (name === 'index.html') continue
    scope.get(`/${name}`, hidden, async (request, reply) => sendServedFile(request, reply, CONTENT_SECURITY_POLICY, files.get(name)!))
  }
}
