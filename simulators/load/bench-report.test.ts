// `npm run bench` as a person runs it, tiny: a run writes its report page
// into the current folder (a file git ignores), says where, and still ends
// with the JSON line; the page names every figure of that line. The portal
// scenario alone, so that one process does it all (bench-run.test.ts renders
// the end-to-end part's result). Nothing about rates or latencies is checked.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { XMLValidator } from 'fast-xml-parser'
import { escapeHtml, jsonFigures } from './report.js'
import { DEFAULT_REPORT_FILE } from './report-file.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** Runs the bench in `cwd` (not the repository) and resolves with its stdout lines. */
function runBench(cwd: string, args: string[]): Promise<{ code: number | null; lines: string[]; errors: string }> {
  const loader = pathToFileURL(join(ROOT, 'node_modules/ts-node/esm.mjs')).href
  const child = spawn(process.execPath, ['--loader', loader, '--no-warnings', join(ROOT, 'simulators/demo/bench.ts'), ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    // ts-node looks for tsconfig.json from the current folder, which here is not the repository.
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
  })
  let out = ''
  let errors = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-4_000)))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, lines: out.trimEnd().split('\n'), errors }))
  })
}

t.test('a quick run writes the report into the current folder and names every figure of its JSON line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-report-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tiny = ['--portal-rate', '20', '--portal-guests', '2', '--portal-seconds', '0.5', '--kiosks', '2', '--portal-poll-ms', '200']
  const { code, lines, errors } = await runBench(dir, ['--quick', '--only', 'portal-load', ...tiny])
  t.equal(code, 0, errors)
  const path = join(dir, DEFAULT_REPORT_FILE)
  t.ok(existsSync(path), 'the report is in the folder the bench ran in')
  t.ok(lines.includes(`report: ${path} (open it in a browser)`), 'and the bench says where')
  const json = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>
  t.type(json.portalLoad, 'object', 'the JSON line is still the last line')

  const html = readFileSync(path, 'utf8')
  t.equal(XMLValidator.validate(html), true, 'the page is well-formed')
  t.match(html, 'Latency against offered rate (open loop, from each sale’s intended send time): not measured in this run.', 'the end-to-end figures say they were not measured')
  const figures = jsonFigures(json)
  t.ok(figures.length > 20, 'the JSON line has its figures')
  const missing = figures.filter(([key, value]) => !html.includes(`<td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td>`))
  t.same(missing, [], 'every figure of the JSON line is on the page with its value')
  t.match(html, '<td>--portal-rate</td><td>20</td>', 'the settings of the run')
  t.match(html, /<td>part: portal load, s<\/td><td>[0-9.]+<\/td>/, 'and how long its part took')
})

t.test('git ignores the report file the bench writes by default', async (t) => {
  const ignored = await new Promise<boolean>((resolve) => execFile('git', ['check-ignore', '-q', join(ROOT, DEFAULT_REPORT_FILE)], { cwd: ROOT }, (error) => resolve(error === null)))
  t.ok(ignored)
})
