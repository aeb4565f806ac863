// The bench's PostgreSQL part, tiny: a private PostgreSQL, the real gateway on
// it in its own process, the load generator in another, a handful of sales.
// Only the shape of the `postgres` key and the books are checked, never a rate
// or a latency. Then the report page and the printed comparison from that
// result, and `npm run bench -- --only postgres` on a machine without the
// server's binaries: skipped, saying why, and still a JSON line.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { XMLValidator } from 'fast-xml-parser'
import { postgresBenchUnavailable, runPostgresBench, storeComparisonLines } from './postgres-bench.js'
import { escapeHtml, jsonFigures, renderBenchReport } from './report.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
const unavailable = postgresBenchUnavailable()

t.test('the PostgreSQL part runs the generator against a gateway on PostgreSQL and reports the same fields', { skip: unavailable === undefined ? false : `${unavailable} (CI installs it)` }, async (t) => {
  const leftovers = () => readdirSync(tmpdir()).filter((name) => name.startsWith('wristpay-bench-pg-') || name.startsWith('wristpay-pg-'))
  const before = new Set(leftovers())
  const lines: string[] = []
  const result = await runPostgresBench(
    {
      kiosks: 4,
      wristbands: 8,
      ratesPerSec: [20],
      phaseMs: 500,
      drainMs: 20_000,
      capacity: { p99LimitMs: 50, maxPhases: 1, phaseMs: 500 },
      limitMs: 50,
      batchSizes: [1, 8],
    },
    (line) => lines.push(line),
  )
  const json = JSON.parse(JSON.stringify(result)) as Record<string, any>
  t.equal(json.skipped, undefined, 'not skipped')
  for (const key of ['e2eSalesPerSec', 'closedLoopCapacityPerSec', 'capacityP99LimitMs', 'salesOffered', 'salesBooked']) t.type(json[key], 'number', key)
  t.same(Object.keys(json.latencyMs).sort(), ['atOfferedPerSec', 'max', 'p50', 'p99'])
  t.equal(json.latencyMs.atOfferedPerSec, 20, 'the latency of the one rate offered')
  t.equal(json.openLoop.length, 1, 'one open-loop row per offered rate')
  t.same(Object.keys(json.openLoop[0]).sort(), ['achievedPerSec', 'max', 'offeredPerSec', 'p50', 'p99', 'p999', 'rejected', 'unanswered'])
  t.ok(json.capacitySearch.length <= 1, 'at most the phases asked for')
  t.same(Object.keys(json.limits.postgresCommitsPerSec).sort(), ['1', '8'], 'PostgreSQL commits/s per batch size')
  for (const n of Object.values(json.limits.postgresCommitsPerSec)) t.type(n, 'number')
  t.equal(json.ledgerBalanced, true, 'the books on PostgreSQL balance')
  t.equal(json.invariantViolations, 0)
  t.ok(json.salesOffered > 0, 'sales were offered')
  t.equal(json.salesBooked, json.salesOffered, 'every sale offered is booked on PostgreSQL, once')
  t.equal(json.salesAnsweredInPhases, json.salesOffered, 'and answered within its phase (a generous drain)')
  t.type(json.gatewayCpu.cores, 'number')
  t.type(json.gatewayCpu.busiest?.mainThreadUsPerSale, 'number', 'its CPU in the seconds it answered most, as for SQLite')
  t.ok(lines.some((l) => l.startsWith('postgres: load: open loop')), 'the generator process reported its phase')
  t.ok(lines.some((l) => l.startsWith('limit: PostgreSQL commits/s of 8 sale(s)')), 'and the commit limit its line')
  t.same(leftovers().filter((name) => !before.has(name)), [], 'the server and the run left nothing in the temp folder')

  // Beside the SQLite figures: the printed comparison and the report page.
  const sqlite = { closedLoopCapacityPerSec: 2125, e2eSalesPerSec: 2400, latencyMs: { p99: 7.9, atOfferedPerSec: 500 }, limits: { sqliteCommitsPerSec: { '1': 3937, '512': 140 } } }
  const comparison = storeComparisonLines(sqlite, json)
  t.equal(comparison.length, 3, 'a header and a row per store')
  t.match(comparison[1], /^SQLite\s+2125\s+7\.9\s+2400\s+71680$/)
  t.match(comparison[2], new RegExp(`^PostgreSQL\\s+${json.closedLoopCapacityPerSec}\\s+${json.latencyMs.p99}\\s+${json.e2eSalesPerSec}\\s+\\d+$`))
  const results = { ...sqlite, capacityP99LimitMs: 50, postgres: json }
  const html = renderBenchReport({ results, settings: {} })
  t.equal(XMLValidator.validate(html), true, 'the page is well-formed')
  t.match(html, '<h2 id="stores">The two stores, same run</h2>')
  t.match(html, '<tr><td>SQLite</td><td>2,125</td><td>7.9</td><td>500</td>', 'SQLite in the stores table')
  t.match(html, `<tr><td>PostgreSQL</td><td>${escapeHtml(json.closedLoopCapacityPerSec.toLocaleString('en-US'))}</td>`, 'PostgreSQL beside it')
  t.match(html, '<td>PostgreSQL commits/s of 8 sale(s)</td>', 'its commit limit among the limits')
  t.same(
    jsonFigures(results).filter(([key, value]) => !html.includes(`<td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td>`)),
    [],
    'every figure of the JSON line is on the page',
  )
})

t.test('the report says so when the PostgreSQL part was skipped', async (t) => {
  const html = renderBenchReport({ results: { postgres: { skipped: 'PostgreSQL 15 server binaries not found in /x <y>' } }, settings: {} })
  t.equal(XMLValidator.validate(html), true)
  t.match(html, 'PostgreSQL store: skipped in this run: PostgreSQL 15 server binaries not found in /x &lt;y&gt;')
  t.same(storeComparisonLines({}, { skipped: 'no binaries' }).slice(1), ['PostgreSQL skipped: no binaries'], 'and the printed comparison')
})

t.test('npm run bench -- --only postgres without PostgreSQL: skipped with the reason, still a JSON line, exit 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-nopg-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const loader = pathToFileURL(join(ROOT, 'node_modules/ts-node/esm.mjs')).href
  const child = spawn(process.execPath, ['--loader', loader, '--no-warnings', join(ROOT, 'simulators/demo/bench.ts'), '--quick', '--only', 'postgres'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), WRISTPAY_POSTGRES_BIN: join(dir, 'no-postgres-here') },
  })
  let out = ''
  let errors = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-4_000)))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  t.equal(code, 0, errors)
  const lines = out.trimEnd().split('\n')
  t.ok(lines.includes(`postgres: skipped: PostgreSQL 15 server binaries not found in ${join(dir, 'no-postgres-here')} (apt-get install postgresql, or set WRISTPAY_POSTGRES_BIN)`), 'the reason is printed')
  const json = JSON.parse(lines[lines.length - 1]!) as { postgres?: { skipped?: string } }
  t.match(json.postgres?.skipped, /^PostgreSQL 15 server binaries not found/, 'and is in the JSON line')
})
