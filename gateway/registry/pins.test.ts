import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseEventSetup, type EventSetup } from '../event-setup.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger } from '../ledger/ledger.js'
import { MAX_PIN_LENGTH, PIN_ALPHABET, PIN_PATTERN, normalisePin, pinLookup, randomPin } from './pins.js'
import { PIN, UID, fixedClock, makeWorld, silentLogger, testSetup } from '../ledger/testing/test-helpers.js'

t.test('normalisePin', async (t) => {
  const cases: Array<[unknown, string | undefined]> = [
    ['ALCE2345AB', 'ALCE2345AB'],
    ['alce2345ab', 'ALCE2345AB'],
    ['AlCe-2345-aB', 'ALCE2345AB'],
    [' ALCE 2345 AB\n', 'ALCE2345AB'],
    ['ABCDEFGH', 'ABCDEFGH'],
    ['A'.repeat(MAX_PIN_LENGTH), 'A'.repeat(MAX_PIN_LENGTH)],
    ['A'.repeat(MAX_PIN_LENGTH + 1), undefined],
    ['ABCDEFG', undefined],
    ['1234', undefined],
    ['ABCDEFG0', undefined],
    ['ABCDEFG1', undefined],
    ['ABCDEFGO', undefined],
    ['abcdefgi', undefined],
    ['ABCD_EFGH', undefined],
    ['ÄBCDEFGH', undefined],
    ['ABCDEFGH\u0000', undefined],
    ['', undefined],
    ['-'.repeat(1_000_000), undefined],
    [null, undefined],
    [12345678, undefined],
    [{ toString: () => 'ABCDEFGH' }, undefined],
  ]
  for (const [input, expected] of cases) t.equal(normalisePin(input as string), expected, JSON.stringify(input)?.slice(0, 40) ?? String(input))
})

t.test('randomPin', async (t) => {
  const pattern = new RegExp(PIN_PATTERN)
  const pins = new Set<string>()
  for (let i = 0; i < 500; i++) pins.add(randomPin())
  t.equal(pins.size, 500, 'no repeats')
  t.ok([...pins].every((pin) => pin.length === 10 && pattern.test(pin) && normalisePin(pin) === pin), '10 characters, valid and canonical')
  t.same(new Set([...pins].join('')), new Set(PIN_ALPHABET), 'every symbol of the alphabet is used, nothing else')
  t.equal(PIN_ALPHABET.length, 32)
  t.equal(randomPin(32).length, 32)
  for (const bad of [7, 33, 9.5, NaN]) t.throws(() => randomPin(bad), RangeError)
})

t.test('pinLookup is keyed and case-insensitive', async (t) => {
  const a = randomBytes(32)
  const b = randomBytes(32)
  t.match(pinLookup(a, PIN.alice), /^[0-9a-f]{64}$/)
  t.equal(pinLookup(a, PIN.alice), pinLookup(a, PIN.alice.toLowerCase()))
  t.not(pinLookup(a, PIN.alice), pinLookup(b, PIN.alice), 'another secret gives another lookup')
  t.not(pinLookup(a, PIN.alice), pinLookup(a, PIN.bob))
  t.equal(pinLookup(a, 'nope'), undefined)
})

t.test('findWristbandByPin and wristband', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  t.equal(w.ledger.registry.findWristbandByPin(PIN.alice), UID.alice)
  t.equal(w.ledger.registry.findWristbandByPin(PIN.bob), UID.bob)
  t.equal(w.ledger.registry.findWristbandByPin(PIN.alice.toLowerCase()), UID.alice, 'case-insensitive')
  t.equal(w.ledger.registry.findWristbandByPin('alce-2345-ab'), UID.alice, 'grouped as printed')
  t.equal(w.ledger.registry.findWristbandByPin('ALCE2345AC'), undefined, 'one character off')
  t.equal(w.ledger.registry.findWristbandByPin('ALCE2345A'), undefined, 'a prefix')
  t.equal(w.ledger.registry.findWristbandByPin(`${PIN.alice}B`), undefined, 'longer')
  for (const hostile of ['', '1234', "' OR 1=1 --", '%', 'x'.repeat(100_000), null, undefined, 42, {}, []])
    t.equal(w.ledger.registry.findWristbandByPin(hostile as string), undefined, `malformed ${typeof hostile}`)

  t.equal(w.ledger.registry.findWristbandByPin(PIN.blocked), UID.blocked, 'a blocked wristband is still found')
  t.same(w.ledger.wristband(UID.blocked), { uid: UID.blocked, blocked: true, balance: 0, account: `customer:${UID.blocked}` })
  w.ledger.applyBatch([{ envelope: w.kiosks.cash.topup(UID.alice, 1234) }])
  t.same(w.ledger.wristband(UID.alice), { uid: UID.alice, blocked: false, balance: 1234, account: `customer:${UID.alice}` })
  t.equal(w.ledger.wristband(UID.stranger), undefined)
  t.equal(w.ledger.wristband(7 as unknown as string), undefined)
  t.equal(w.ledger.registry.verifyPin(UID.alice, 7 as unknown as string), false)
  t.equal(w.ledger.registry.verifyPin(7 as unknown as string, PIN.alice), false)
})

t.test('re-imports: PINs may move between wristbands, but never be shared', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const swapped = testSetup()
  swapped.wristbands[0]!.pin = PIN.bob
  swapped.wristbands[1]!.pin = PIN.alice
  w.ledger.registry.importEventSetup(parseEventSetup(swapped))
  t.equal(w.ledger.registry.findWristbandByPin(PIN.alice), UID.bob)
  t.equal(w.ledger.registry.findWristbandByPin(PIN.bob), UID.alice)

  // A later file with only a new wristband that takes alice's PIN (alice stays in the ledger).
  const later: EventSetup = { ...testSetup(), wristbands: [{ uid: '04CAFECAFECAFE', pin: PIN.bob.toLowerCase() }] }
  const before = w.db.prepare('SELECT * FROM wristbands ORDER BY uid').all()
  t.throws(() => w.ledger.registry.importEventSetup(parseEventSetup(later)), /wristband 04CAFECAFECAFE: its PIN is already the PIN of another wristband/)
  t.same(w.db.prepare('SELECT * FROM wristbands ORDER BY uid').all(), before, 'nothing imported')
  t.equal(w.ledger.registry.findWristbandByPin(PIN.bob), UID.alice)
  try {
    w.ledger.registry.importEventSetup(later)
  } catch (err) {
    t.notMatch((err as Error).message, new RegExp(PIN.bob, 'i'), 'the PIN is not in the message')
  }

  // importEventSetup checks PINs itself too (a caller may skip parseEventSetup).
  const invalid = testSetup()
  invalid.wristbands[0]!.pin = '1234'
  t.throws(() => w.ledger.registry.importEventSetup(invalid), /\/wristbands\/0 PIN is not/)
  t.equal(w.ledger.registry.findWristbandByPin(PIN.bob), UID.alice, 'nothing changed')
})

t.test('the PIN secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-pins-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const open = (name: string, pinSecret?: Buffer) => {
    const db = openLedgerDatabase(join(dir, name))
    try {
      return { db, ledger: createLedger({ db, clock: fixedClock(), logger: silentLogger, ...(pinSecret ? { pinSecret } : {}) }) }
    } catch (err) {
      db.close()
      throw err
    }
  }

  t.test('a generated one is kept in the database across restarts', async (t) => {
    const first = open('generated.sqlite')
    first.ledger.registry.importEventSetup(testSetup())
    const stored = first.db.prepare(`SELECT pin_lookup FROM wristbands WHERE uid = ?`).get(UID.alice)
    first.db.close()
    const second = open('generated.sqlite')
    t.teardown(() => second.db.close())
    t.equal(second.ledger.registry.findWristbandByPin(PIN.alice), UID.alice)
    t.same(second.db.prepare(`SELECT pin_lookup FROM wristbands WHERE uid = ?`).get(UID.alice), stored)
  })

  t.test('a configured one is used, required again and must not change', async (t) => {
    const secret = randomBytes(32)
    const first = open('configured.sqlite', secret)
    first.ledger.registry.importEventSetup(testSetup())
    const lookup = (first.db.prepare(`SELECT pin_lookup FROM wristbands WHERE uid = ?`).get(UID.alice) as { pin_lookup: string }).pin_lookup
    t.equal(lookup, pinLookup(secret, PIN.alice), 'the lookup is keyed by the configured secret')
    t.equal(first.db.prepare(`SELECT value FROM meta WHERE key = 'pin_secret'`).get(), undefined, 'a configured secret is not written to the database')
    first.db.close()
    t.throws(() => open('configured.sqlite', randomBytes(32)), /pinSecret differs/)
    t.throws(() => open('configured.sqlite'), /configured pinSecret: configure it again/)
    const again = open('configured.sqlite', Buffer.from(secret))
    t.teardown(() => again.db.close())
    t.equal(again.ledger.registry.findWristbandByPin(PIN.alice.toLowerCase()), UID.alice)
  })

  t.test('a short or malformed one is refused', async (t) => {
    t.throws(() => open('short.sqlite', randomBytes(8)), /at least 16 bytes/)
    t.throws(() => open('short.sqlite', 'a string secret' as unknown as Buffer), /at least 16 bytes/)
  })

  t.test('moving from a generated secret to another configured one is refused once PINs are stored', async (t) => {
    const first = open('moved.sqlite')
    first.ledger.registry.importEventSetup(testSetup())
    first.db.close()
    t.throws(() => open('moved.sqlite', randomBytes(32)), /pinSecret differs/)
    const again = open('moved.sqlite')
    t.teardown(() => again.db.close())
    t.equal(again.ledger.registry.findWristbandByPin(PIN.alice), UID.alice, 'the refused attempt changed nothing')
  })

  t.test('with no wristbands yet, the secret may change', async (t) => {
    open('empty.sqlite', randomBytes(32)).db.close()
    const other = open('empty.sqlite', randomBytes(32))
    t.teardown(() => other.db.close())
    other.ledger.registry.importEventSetup(testSetup())
    t.equal(other.ledger.registry.findWristbandByPin(PIN.bob), UID.bob)
  })
})

t.test('50,000 wristbands import without a slow hash per PIN', async (t) => {
  const setup = testSetup()
  const pins = new Set<string>(Object.values(PIN))
  const wristbands: EventSetup['wristbands'] = []
  for (let i = 0; wristbands.length < 50_000 && i < 60_000; i++) {
    const pin = randomPin()
    if (pins.has(pin)) continue
    pins.add(pin)
    wristbands.push({ uid: (0x04000000000000 + i).toString(16).toUpperCase(), pin })
  }
  setup.wristbands.push(...wristbands)
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const summary = ledger.registry.importEventSetup(parseEventSetup(setup))
  t.equal(summary.wristbands, 50_003)
  const last = wristbands.at(-1)!
  t.equal(ledger.registry.findWristbandByPin(last.pin.toLowerCase()), last.uid)
  t.equal(ledger.registry.findWristbandByPin(wristbands[0]!.pin), wristbands[0]!.uid)
  t.same(ledger.checkInvariants(), [])
})
