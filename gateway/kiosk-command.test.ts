// `wristpay-gateway kiosk add|code` against a running gateway (port 0): it
// prints the code, its expiry, the enroll command and the QR code, refuses
// what the gateway refuses, and says how to call it.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createGateway } from './app.js'
import { resolveConfig } from './config.js'
import { parseKioskArgs, runKioskCommand } from './kiosk-command.js'

const ADMIN_TOKEN = 'admin-token-for-kiosk-command-tests'

function io() {
  const out: string[] = []
  const err: string[] = []
  return { stdout: (text: string) => void out.push(text), stderr: (text: string) => void err.push(text), out: () => out.join(''), err: () => err.join('') }
}

t.test('parseKioskArgs: add needs a booth and something to do; code takes only the id', async (t) => {
  t.same(parseKioskArgs(['add', 'bar-2', '--booth', 'bar', '--sale']), { action: 'add', kioskId: 'bar-2', booth: 'bar', sale: true })
  t.same(parseKioskArgs(['code', 'bar-1', '--gateway-url', 'http://10.0.0.1:8080']), { action: 'code', kioskId: 'bar-1', gatewayUrl: 'http://10.0.0.1:8080' })
  t.throws(() => parseKioskArgs(['add', 'bar-2', '--sale']), /--booth/)
  t.throws(() => parseKioskArgs(['add', 'bar-2', '--booth', 'bar']), /--profile, or --sale/)
  t.throws(() => parseKioskArgs(['code', 'bar-2', '--booth', 'bar']), /belong to add/)
  t.throws(() => parseKioskArgs(['remove', 'bar-2']), /add or code/)
  t.throws(() => parseKioskArgs(['code', 'Bar 2']), /kiosk's id/)
})

t.test('kiosk add and kiosk code print the code, the command and its QR code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-command-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eventFile = join(dir, 'event.json')
  writeFileSync(
    eventFile,
    JSON.stringify({
      event: { name: 'Command Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [],
      kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
      wristbands: [],
    }),
  )
  const config = resolveConfig({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'data'), eventFile, adminToken: ADMIN_TOKEN, logLevel: 'silent' })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const url = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }

  const add = io()
  t.equal(await runKioskCommand(['add', 'bar-2', '--booth', 'bar', '--sale', '--url', url, '--gateway-url', 'http://10.0.0.1:8080'], env, add), 0, add.err())
  const code = /registration code: ([A-Z0-9-]{19})/.exec(add.out())?.[1]
  t.ok(code, 'the code is printed')
  t.match(add.out(), /kiosk bar-2 made \(booth bar\)/)
  t.match(add.out(), new RegExp(`  wristpay-kiosk enroll --gateway http://10\\.0\\.0\\.1:8080 --code ${code}\\n`))
  t.match(add.out(), /works once, until \d{4}-\d\d-\d\dT/)
  t.match(add.out(), /[▀▄█]{10}/, 'the QR code, in block characters')
  t.equal(add.err(), '', 'no warning for a reachable address')
  t.ok(gateway.ledger.registry.kioskIds().includes('bar-2'))

  const again = io()
  t.equal(await runKioskCommand(['add', 'bar-2', '--booth', 'bar', '--sale', '--url', url], env, again), 1)
  t.match(again.err(), /refused \(409 kiosk_exists\)/)

  const renew = io()
  t.equal(await runKioskCommand(['code', 'bar-1', '--url', url], env, renew), 0)
  t.match(renew.out(), /new registration code for kiosk bar-1 \(booth bar\)/)
  t.match(renew.err(), /loopback address, which the Pi cannot reach: pass --gateway-url/, 'a command naming loopback is flagged')

  const unknown = io()
  t.equal(await runKioskCommand(['code', 'nope-1', '--url', url], env, unknown), 1)
  t.match(unknown.err(), /404 unknown_kiosk/)

  const noToken = io()
  t.equal(await runKioskCommand(['code', 'bar-1', '--url', url], {}, noToken), 2)
  t.match(noToken.err(), /no admin token/)
  const usage = io()
  t.equal(await runKioskCommand(['add', 'bar-3'], env, usage), 2)
  t.match(usage.err(), /Usage:\n  kiosk add ID --booth BOOTH/)
})
