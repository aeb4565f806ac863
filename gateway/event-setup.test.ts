import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { validateKioskConfig } from '../device-protocol/index.js'
import { EventSetupError, loadEventSetup, parseEventSetup, randomPin, type EventSetup } from './event-setup.js'
import { createLedger, openLedgerDatabase } from './ledger/index.js'
import { fixedClock, silentLogger, testSetup } from './ledger/testing/test-helpers.js'

const here = dirname(fileURLToPath(import.meta.url))

t.test('the demo event loads and imports', async (t) => {
  const setup = loadEventSetup(join(here, 'fixtures', 'demo-event.json'))
  t.ok(setup.kiosks.length >= 3)
  t.ok(setup.wristbands.length >= 10)
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const summary = ledger.registry.importEventSetup(setup)
  t.same(summary.configChanged.sort(), setup.kiosks.map((k) => k.id).sort())
  for (const k of setup.kiosks) {
    t.ok(validateKioskConfig(ledger.registry.kioskConfig(k.id)).ok, `config of ${k.id} is a valid KioskConfig`)
    t.ok(ledger.registry.kioskAuth(k.id, k.token))
  }
  t.same(ledger.checkInvariants(), [])
  for (const w of setup.wristbands) {
    t.equal(ledger.registry.findWristbandByPin(w.pin.toLowerCase()), w.uid, `wristband ${w.uid} is found by its PIN`)
    t.equal(ledger.wristband(w.uid)?.blocked, w.blocked ?? false)
  }
})

t.test('randomPin makes PINs a set-up accepts', async (t) => {
  const setup = testSetup()
  for (const w of setup.wristbands) w.pin = randomPin()
  setup.wristbands[0]!.pin = setup.wristbands[0]!.pin.toLowerCase()
  t.doesNotThrow(() => parseEventSetup(setup))
})

t.test('the test set-up is valid', async (t) => {
  t.same(parseEventSetup(testSetup()), testSetup())
})

type Mutation = [name: string, mutate: (s: EventSetup & Record<string, unknown>) => void, error: RegExp]

const mutations: Mutation[] = [
  ['missing event', (s) => delete (s as Partial<EventSetup>).event, /\/event|event/],
  ['currency in lower case', (s) => (s.event.currency = 'eur'), /currency/],
  ['unknown top-level field', (s) => (s.extra = 1), /additional/],
  ['booth id with spaces', (s) => (s.booths[0]!.id = 'main bar'), /booths\/0\/id/],
  ['price as a float', (s) => (s.products[0]!.price = 4.5), /products\/0\/price/],
  ['negative price', (s) => (s.products[0]!.price = -1), /products\/0\/price/],
  ['price as a string', (s) => ((s.products[0] as Record<string, unknown>).price = '450'), /products\/0\/price/],
  ['short token', (s) => (s.kiosks[0]!.token = 'short'), /kiosks\/0\/token/],
  ['kiosk id in upper case', (s) => (s.kiosks[0]!.id = 'BAR-1'), /kiosks\/0\/id/],
  ['flag missing', (s) => delete (s.kiosks[0] as Partial<EventSetup['kiosks'][number]>).saleAllowed, /saleAllowed|kiosks\/0/],
  ['public key of the wrong length', (s) => (s.kiosks[0]!.publicKey = 'abc'), /kiosks\/0\/publicKey/],
  ['all-zero public key (small order)', (s) => (s.kiosks[0]!.publicKey = 'A'.repeat(43)), /kiosks\/0 publicKey: the public key is a weak Ed25519 key/],
  ['lower-case uid', (s) => (s.wristbands[0]!.uid = '04a1b2c3d4e5f6'), /wristbands\/0\/uid/],
  ['PIN of digits only, too short', (s) => (s.wristbands[0]!.pin = '2345'), /wristbands\/0\/pin/],
  ['PIN with a look-alike O', (s) => (s.wristbands[0]!.pin = 'ABCDEFGO'), /wristbands\/0\/pin/],
  ['PIN with a look-alike I', (s) => (s.wristbands[0]!.pin = 'ABCDEFGI'), /wristbands\/0\/pin/],
  ['PIN with a 0', (s) => (s.wristbands[0]!.pin = 'ABCDEFG0'), /wristbands\/0\/pin/],
  ['PIN with a 1', (s) => (s.wristbands[0]!.pin = 'ABCDEFG1'), /wristbands\/0\/pin/],
  ['PIN of 7 characters', (s) => (s.wristbands[0]!.pin = 'ABCDEFG'), /wristbands\/0\/pin/],
  ['PIN of 33 characters', (s) => (s.wristbands[0]!.pin = 'A'.repeat(33)), /wristbands\/0\/pin/],
  ['PIN with a hyphen', (s) => (s.wristbands[0]!.pin = 'ABCD-EFGH'), /wristbands\/0\/pin/],
  ['PIN as a number', (s) => ((s.wristbands[0] as Record<string, unknown>).pin = 23456789), /wristbands\/0\/pin/],
  ['duplicate PIN', (s) => (s.wristbands[1]!.pin = s.wristbands[0]!.pin), /wristbands\/1 PIN is the same as another wristband's/],
  ['duplicate PIN in another letter case', (s) => (s.wristbands[1]!.pin = s.wristbands[0]!.pin.toLowerCase()), /wristbands\/1 PIN is the same/],
  ['product at an unknown booth', (s) => (s.products[0]!.booth = 'nowhere'), /products\/0 booth 'nowhere' is not in booths/],
  ['kiosk at an unknown booth', (s) => (s.kiosks[0]!.booth = 'nowhere'), /kiosks\/0 booth 'nowhere' is not in booths/],
  ['duplicate booth', (s) => s.booths.push({ ...s.booths[0]! }), /duplicate booth id 'bar'/],
  ['duplicate product at a booth', (s) => s.products.push({ ...s.products[0]! }), /duplicate product 'beer' at booth 'bar'/],
  ['duplicate kiosk', (s) => s.kiosks.push({ ...s.kiosks[0]!, token: 'another-token-0123456789' }), /duplicate kiosk id 'bar-1'/],
  ['shared token', (s) => (s.kiosks[1]!.token = s.kiosks[0]!.token), /kiosks\/1 token is shared/],
  ['duplicate wristband', (s) => s.wristbands.push({ ...s.wristbands[0]!, pin: 'QTHERPN555' }), /duplicate uid/],
]

t.test('invalid set-ups are refused with the place of the error', async (t) => {
  for (const [name, mutate, error] of mutations) {
    const setup = testSetup() as EventSetup & Record<string, unknown>
    mutate(setup)
    t.throws(() => parseEventSetup(setup), error, name)
    try {
      parseEventSetup(setup)
    } catch (err) {
      t.type(err, EventSetupError, `${name}: an EventSetupError`)
      const message = (err as Error).message
      t.notOk(/token-of-|ALCE2345AB|BBQ9876ZZZ|BLCKD22222/i.test(message), `${name}: no secret in the message`)
    }
  }
  for (const value of [null, [], 'setup', 42, {}]) t.throws(() => parseEventSetup(value), EventSetupError)
})

t.test('the same product id may be sold at two booths', async (t) => {
  const setup = testSetup()
  setup.products.push({ id: 'beer', name: 'Beer', price: 500, booth: 'food' })
  t.doesNotThrow(() => parseEventSetup(setup))
})

t.test('loadEventSetup names the file and never quotes its text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-setup-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.throws(() => loadEventSetup(join(dir, 'missing.json')), /missing\.json: cannot read event set-up \(ENOENT\)/)
  const broken = join(dir, 'broken.json')
  writeFileSync(broken, '{"kiosks": [{"token": "super-secret-token-value" oops')
  t.throws(() => loadEventSetup(broken), /broken\.json: not valid JSON/)
  try {
    loadEventSetup(broken)
  } catch (err) {
    t.notMatch((err as Error).message, /super-secret/, 'the token does not leak into the error')
  }
  const invalid = join(dir, 'invalid.json')
  writeFileSync(invalid, JSON.stringify({ ...testSetup(), booths: 'bar' }))
  t.throws(() => loadEventSetup(invalid), /invalid\.json: invalid event set-up: \/booths/)
  const good = join(dir, 'good.json')
  writeFileSync(good, JSON.stringify(testSetup()))
  t.same(loadEventSetup(good), testSetup())
})
