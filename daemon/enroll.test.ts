// The kiosk's side of enrollment by code without a gateway: the stored
// enrollment is the lowest config layer (the config file, the environment and
// flags win), it must be 0600 and for the configured kiosk; the command
// refuses without a data folder or a gateway, and stores nothing when the
// gateway refuses. (simulators/e2e/enroll-by-code.e2e.test.ts runs it against
// a real gateway.)
import t from 'tap'
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from './cli.js'
import { loadConfig } from './config.js'
import { ENROLLMENT_FILE_NAME, writeEnrollmentFile } from './enrollment-file.js'

const TOKEN = 'enrolled-token-0123456789abcdefghijklmnopqrstu'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-enroll-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function enrolledDir(): string {
  const dir = tempDir()
  writeEnrollmentFile(dir, { kioskId: 'bar-7', mqttUrl: 'mqtt://10.0.0.1:1883', token: TOKEN, gateway: 'http://10.0.0.1:8080', enrolledAt: 1 })
  return dir
}

function output() {
  const text: string[] = []
  return { write: (chunk: string) => void text.push(chunk), text: () => text.join('') }
}

t.test('the enrollment in the data folder is the lowest config layer', async (t) => {
  const dir = enrolledDir()
  t.match(loadConfig({ env: { WRISTPAY_DATA_DIR: dir } }), { kioskId: 'bar-7', mqttUrl: 'mqtt://10.0.0.1:1883', token: TOKEN }, 'the data folder alone is enough')
  t.match(loadConfig({ env: { WRISTPAY_DATA_DIR: dir, WRISTPAY_MQTT_URL: 'mqtt://gw:1883', WRISTPAY_KIOSK_TOKEN: 'from-the-environment' } }), { kioskId: 'bar-7', mqttUrl: 'mqtt://gw:1883', token: 'from-the-environment' }, 'the environment wins')
  t.throws(() => loadConfig({ env: { WRISTPAY_DATA_DIR: dir, WRISTPAY_KIOSK_ID: 'bar-1' } }), /kiosk id is bar-1, but .*enrolled this data folder as bar-7/)
  t.throws(() => loadConfig({ env: { WRISTPAY_DATA_DIR: tempDir() } }), /no kiosk id/, 'no enrollment: as before')
  chmodSync(join(dir, ENROLLMENT_FILE_NAME), 0o644)
  t.throws(() => loadConfig({ env: { WRISTPAY_DATA_DIR: dir } }), { name: 'ConfigError', message: /mode 644.*must be 0600/ }, 'credentials readable by others are refused')
})

t.test('enroll refuses without what it needs, and stores nothing when the gateway refuses', async (t) => {
  const deps = { env: {}, cwd: tempDir(), uid: 1000, userName: 'tester', serviceDataDir: '/nonexistent/service' }
  const help = output()
  t.equal(await main(['enroll', '--help'], { ...deps, stdout: help, stderr: output() }), 0)
  t.match(help.text(), /Usage: wristpay-kiosk enroll --gateway URL --code CODE/)
  const noGateway = output()
  t.equal(await main(['enroll', '--code', 'ABCD-EFGH-JKLM-NPQR'], { ...deps, stdout: output(), stderr: noGateway }), 2)
  t.match(noGateway.text(), /--gateway/)
  const noDir = output()
  t.equal(await main(['enroll', '--gateway', 'http://127.0.0.1:1', '--code', 'ABCD-EFGH-JKLM-NPQR'], { ...deps, stdout: output(), stderr: noDir }), 2)
  t.match(noDir.text(), /--data-dir/, 'the kiosk id (and so the default folder) is not known yet')

  // A gateway that refuses every code.
  const server = createServer((_request, response) => {
    response.writeHead(401, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ type: 'invalid_registration_code', id: 'x', message: 'this registration code is not known' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const dataDir = join(deps.cwd, 'kiosk')
  const refused = output()
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.equal(await main(['enroll', '--gateway', url, '--code', 'ABCD-EFGH-JKLM-NPQR', '--data-dir', dataDir], { ...deps, stdout: output(), stderr: refused }), 1)
  t.match(refused.text(), /refused \(401 invalid_registration_code\).*\nNothing was stored/)
  t.notOk(existsSync(join(dataDir, ENROLLMENT_FILE_NAME)))
})
