// Enrollment by registration code, both sides for real: the gateway (loopback,
// SQLite, aedes, HTTP) makes a kiosk and hands out a code; `wristpay-kiosk
// enroll` (its CLI function, in this process) creates the key, spends the code
// and stores the credentials 0600 without printing the token; a kiosk daemon
// then starts from the data folder alone, logs in and sells. Spending the same
// code again is refused and stores nothing.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { main as kioskCli } from '../../daemon/cli.js'
import { loadConfig } from '../../daemon/config.js'
import { ENROLLMENT_FILE_NAME } from '../../daemon/enrollment-file.js'
import { KEY_FILE_NAME } from '../../daemon/keys.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const ADMIN_TOKEN = randomBytes(24).toString('base64url')

function output() {
  const text: string[] = []
  return { write: (chunk: string) => void text.push(chunk), text: () => text.join('') }
}

t.test('a kiosk made by an operator is enrolled with its code by the CLI and sells with the stored credentials', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-enroll-code-'))
  const setup: EventSetup = {
    event: { name: 'enroll by code', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: { adminToken: ADMIN_TOKEN } })
  let daemon: KioskDaemon | undefined
  t.teardown(async () => {
    await daemon?.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const http = `http://127.0.0.1:${gateway.httpAddress!.port}`

  const made = await fetch(`${http}/admin/kiosks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'bar-7', booth: 'bar', saleAllowed: true, topupAllowed: true }),
  })
  t.equal(made.status, 201)
  const { code, enrollCommand } = (await made.json()) as { code: string; enrollCommand: string }

  const dataDir = join(dir, 'kiosk')
  const cli = { env: {}, cwd: dir, uid: 1000, userName: 'tester', serviceDataDir: join(dir, 'service') }
  const stdout = output()
  const stderr = output()
  // The command line the operator got, with our data folder.
  const argv = [...enrollCommand.split(' ').slice(1), '--data-dir', dataDir]
  t.equal(await kioskCli(argv, { ...cli, stdout, stderr }), 0, stderr.text())
  t.ok(existsSync(join(dataDir, KEY_FILE_NAME)), 'the key pair was created')
  const file = join(dataDir, ENROLLMENT_FILE_NAME)
  t.equal(statSync(file).mode & 0o777, 0o600, 'the credentials are 0600')
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { kioskId: string; mqttUrl: string; token: string }
  t.match(stored, { kioskId: 'bar-7', mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, token: /^[A-Za-z0-9_-]{43}$/ })
  t.match(stdout.text(), /Enrolled as kiosk bar-7 \(booth bar\)/)
  t.notOk(stdout.text().includes(stored.token) || stderr.text().includes(stored.token), 'the token is never printed')

  // Spent: refused, and the stored credentials stay as they are.
  const again = output()
  t.equal(await kioskCli(argv, { ...cli, stdout: output(), stderr: again }), 1)
  t.match(again.text(), /refused \(410 registration_code_used\)/)
  t.equal(JSON.parse(readFileSync(file, 'utf8')).token, stored.token, 'nothing was overwritten')

  // The daemon starts from the data folder alone: kiosk id, broker and token come from the enrollment.
  const config = loadConfig({ env: { WRISTPAY_DATA_DIR: dataDir }, overrides: { reader: 'memory', apiPort: 0, replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } })
  t.match(config, { kioskId: 'bar-7', mqttUrl: stored.mqttUrl, token: stored.token })
  const reader = createMemoryReader()
  daemon = await createKioskDaemon({ config, logger: silent, clock: systemClock, reader })
  await daemon.start()
  await waitUntil(() => daemon!.status().config !== null && daemon!.status().chain.status !== 'unchecked', 'bar-7 configured and its chain checked', 5_000, 5)
  t.match(await tapAndAwait(daemon.kiosk.topUp(2_000), reader, GUEST), { status: 'accepted', balance: 2_000 })
  const sale = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
  t.match(sale, { status: 'accepted', balance: 1_550 })
  t.match(gateway.ledger.transaction(sale.id), { status: 'accepted', kiosk: 'bar-7' }, 'booked')
})
