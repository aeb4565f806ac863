// The operator console's files: its own page (web/: plain HTML, CSS and one
// script, no build step) and the two browser bundles it uses from
// node_modules (mqtt.js for MQTT over WebSocket, uPlot for the charts). They
// are read once at start and served from memory by an allow-list, so no path
// from a request ever reaches the file system.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { servedFile, type ServedFile } from '../../portal-api/index.js'

export type { ServedFile }

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** The console's own files, by the name they are served under. */
const OWN_FILES: Readonly<Record<string, string>> = {
  'index.html': HTML,
  'console.js': JS,
  'console.css': CSS,
}

/** Browser bundles of installed packages: served name → module specifier and type. */
const VENDOR_FILES: Readonly<Record<string, { specifier: string; contentType: string }>> = {
  // mqtt's package exports map `mqtt/dist/*` to `dist/*.js`.
  'vendor/mqtt.min.js': { specifier: 'mqtt/dist/mqtt.min', contentType: JS },
  'vendor/uPlot.iife.min.js': { specifier: 'uplot/dist/uPlot.iife.min.js', contentType: JS },
  'vendor/uPlot.min.css': { specifier: 'uplot/dist/uPlot.min.css', contentType: CSS },
}

/** `web/` next to this module (source tree, or dist when the build copied it), else the source tree seen from dist/. */
export function defaultConsoleWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, 'web'), resolve(here, '../../../gateway/console/web')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!
}

/** Every file of the console by its path under the prefix (`index.html`, `vendor/mqtt.min.js`, …). Throws when one is missing. */
export function loadConsoleFiles(webDir: string = defaultConsoleWebDir()): Map<string, ServedFile> {
  const files = new Map<string, ServedFile>()
  for (const [name, contentType] of Object.entries(OWN_FILES)) files.set(name, servedFile(readFileSync(join(webDir, name)), contentType))
  const require = createRequire(import.meta.url)
  for (const [name, { specifier, contentType }] of Object.entries(VENDOR_FILES)) files.set(name, servedFile(readFileSync(require.resolve(specifier)), contentType))
  return files
}
