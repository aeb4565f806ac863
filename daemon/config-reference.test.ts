// CONFIGURATION.md holds the kiosk's settings as the schema generates
// them: this test fails when they drift. Regenerate the section with
// WRISTPAY_UPDATE_DOCS=1 npx tap daemon/config-reference.test.ts (or paste the
// output of wristpay-kiosk --print-config-reference).
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeConfigSchema, generatedSection, replaceGeneratedSection } from '../device-protocol/config-reference.js'
import { main } from './cli.js'
import { KioskConfigFile } from './config.js'
import { kioskConfigReference } from './config-reference.js'

const DOC = join(dirname(dirname(fileURLToPath(import.meta.url))), 'CONFIGURATION.md')

function capture() {
  let text = ''
  return { write: (chunk: string) => void (text += chunk), get text() { return text } }
}

t.test('CONFIGURATION.md lists the kiosk settings exactly as the schema does', async (t) => {
  const generated = kioskConfigReference()
  if (process.env.WRISTPAY_UPDATE_DOCS === '1') writeFileSync(DOC, replaceGeneratedSection(readFileSync(DOC, 'utf8'), 'kiosk', generated))
  t.equal(generatedSection(readFileSync(DOC, 'utf8'), 'kiosk'), generated, 'stale: run WRISTPAY_UPDATE_DOCS=1 npx tap daemon/config-reference.test.ts')
})

t.test('every kiosk setting is described, and the token and terminal password are secret', async (t) => {
  const rows = describeConfigSchema(KioskConfigFile)
  for (const row of rows) t.ok(row.description.length > 0, `${row.key} has a description`)
  t.same(rows.filter((r) => r.secret).map((r) => r.key), ['token', 'terminalPassword'])
  t.match(rows.find((r) => r.key === 'token')?.description, /event set-up.*enrollment\.json.*wristpay-kiosk enroll/, 'the token may come from enrollment by code too')
})

t.test('wristpay-kiosk --print-config prints the effective config with the secrets masked; --print-config-reference the table', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'kiosk.json')
  writeFileSync(file, JSON.stringify({ kioskId: 'bar-1', mqttUrl: 'mqtt://gateway:1883', terminal: 'zvt:/dev/ttyUSB1@9600' }))
  const stdout = capture()
  const stderr = capture()
  const env = { WRISTPAY_KIOSK_TOKEN: 'kiosk-token-from-env-0123', WRISTPAY_TERMINAL_PASSWORD: '482913', WRISTPAY_DATA_DIR: join(dir, 'data') }
  t.equal(await main(['--config', file, '--print-config'], { stdout, stderr, env }), 0, stderr.text)
  const printed = JSON.parse(stdout.text)
  t.match(printed, { kioskId: 'bar-1', mqttUrl: 'mqtt://gateway:1883', dataDir: join(dir, 'data'), token: '[secret]', terminalPassword: '[secret]', terminal: { kind: 'zvt', path: '/dev/ttyUSB1' } })
  t.notMatch(stdout.text, /kiosk-token-from-env|482913/, 'no secret printed')

  const reference = capture()
  t.equal(await main(['--print-config-reference'], { stdout: reference, stderr, env: {} }), 0)
  t.equal(reference.text, kioskConfigReference())
})
