// ERRORS.md is the catalogue of every error type the HTTP APIs answer,
// with its status. This test reads the code of the gateway and the portal and
// fails when a type thrown with a fixed status is missing there.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !path.includes('/testing/'))
}

/** `type status` of every error the code answers with a fixed type and status. */
function thrownErrors(): Set<string> {
  const found = new Set<string>()
  for (const path of [...sources('gateway'), ...sources('portal-api')]) {
    const text = readFileSync(path, 'utf8')
    for (const m of text.matchAll(/new (?:HttpError|PortalError)\(\s*(\d{3}),\s*'([a-z_.]+)'/g)) found.add(`${m[2]} ${m[1]}`)
    for (const m of text.matchAll(/sendApiError\([^)]*?status: (\d{3}), type: '([a-z_.]+)'/g)) found.add(`${m[2]} ${m[1]}`)
    for (const m of text.matchAll(/type: '(value_error\.[a-z_]+)'/g)) found.add(`${m[1]} 422`)
  }
  // The online top-up codes and their statuses: the table in online-topups.ts.
  const topups = readFileSync(join(ROOT, 'gateway/payments/online-topups.ts'), 'utf8')
  const table = /const STATUS_CODE[^{]*\{([^}]*)\}/.exec(topups)
  for (const m of (table?.[1] ?? '').matchAll(/([a-z_]+): (\d{3})/g)) found.add(`${m[1]} ${m[2]}`)
  return found
}

/** `type status` of every row of the catalogue's tables (a row may name several types and statuses). */
function catalogued(): Set<string> {
  const listed = new Set<string>()
  for (const line of readFileSync(join(ROOT, 'ERRORS.md'), 'utf8').split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    if (cells.length < 4) continue
    const types = [...cells[1]!.matchAll(/`([a-z_.]+)`/g)].map((m) => m[1]!)
    const statuses = [...cells[2]!.matchAll(/\b(\d{3})\b/g)].map((m) => m[1]!)
    for (const type of types) for (const status of statuses) listed.add(`${type} ${status}`)
  }
  return listed
}

t.test('every error type the code answers with, with its status, is in ERRORS.md', async (t) => {
  const thrown = thrownErrors()
  t.ok(thrown.size > 40, `the scan finds the errors (${thrown.size})`)
  t.ok(thrown.has('admin_disabled 503') && thrown.has('invalid_webhook 400') && thrown.has('value_error.iban 422'), 'each kind of source is read')
  const listed = catalogued()
  const missing = [...thrown].filter((pair) => !listed.has(pair)).sort()
  t.same(missing, [], 'types and statuses missing from ERRORS.md')
})

t.test('the handler\'s own answers are catalogued', async (t) => {
  const listed = catalogued()
  for (const pair of ['internal 500', 'not_found 404', 'invalid_request 400', 'invalid_request 422', 'validation_error 422', 'bad_request 400', 'bad_request 413', 'rate_limited 429'])
    t.ok(listed.has(pair), pair)
})
