// Set-up validation of the kiosk-operation fields: each mistake is refused
// with a message naming it, before anything reaches the ledger.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EventSetupError, loadEventSetup, parseEventSetup, type EventSetup } from './event-setup.js'
import { createLedger, openLedgerDatabase } from './ledger/index.js'
import { OPS_UID, STAFF, opsSetup } from './ledger/testing/operations-fixtures.js'
import { fixedClock, silentLogger } from './ledger/testing/test-helpers.js'

const clone = (s: EventSetup): EventSetup => structuredClone(s)

interface Case {
  name: string
  change(s: EventSetup): void
  message: RegExp
}

const cases: Case[] = [
  {
    name: 'negative price on an item',
    change: (s) => void s.products.push({ id: 'refund', name: 'Refund', price: -100, booth: 'bar' }),
    message: /\/products\/12\b.*only a discount may have a negative price/,
  },
  {
    name: 'negative price on a deposit',
    change: (s) => void s.products.push({ id: 'neg-cup', name: 'Cup', price: -200, booth: 'bar', kind: 'deposit' }),
    message: /only a discount may have a negative price/,
  },
  {
    name: 'discount with a price of zero',
    change: (s) => void s.products.push({ id: 'zero', name: 'Nothing off', price: 0, booth: 'bar', kind: 'discount' }),
    message: /\/products\/12\b.*a discount has a fixed negative price/,
  },
  {
    name: 'discount with a positive price',
    change: (s) => void s.products.push({ id: 'plus', name: 'Surcharge', price: 50, booth: 'bar', kind: 'discount' }),
    message: /a discount has a fixed negative price/,
  },
  {
    name: 'discount with a free price',
    change: (s) => void s.products.push({ id: 'free-off', name: 'Any off', price: -50, booth: 'bar', kind: 'discount', fixedPrice: false }),
    message: /a discount has a fixed negative price/,
  },
  {
    name: 'ticket with a free price',
    change: (s) => void s.products.push({ id: 'free-ticket', name: 'Ticket', price: 100, booth: 'cashdesk', kind: 'ticket', fixedPrice: false }),
    message: /a ticket has a fixed price/,
  },
  {
    name: 'ticketVariant on an item',
    change: (s) => void s.products.push({ id: 'kids-menu', name: 'Kids menu', price: 100, booth: 'food', ticketVariant: 'under16' }),
    message: /ticketVariant is for tickets only/,
  },
  {
    name: 'unknown profile on a kiosk',
    change: (s) => void (s.kiosks[0]!.profile = 'no-such-profile'),
    message: /\/kiosks\/0 profile 'no-such-profile' is not in tillProfiles/,
  },
  {
    name: 'profile on a kiosk of an event without profiles',
    change: (s) => void delete s.tillProfiles,
    message: /profile 'bar-till' is not in tillProfiles/,
  },
  {
    name: 'duplicate profile id',
    change: (s) => void s.tillProfiles!.push({ ...s.tillProfiles![0]! }),
    message: /\/tillProfiles\/3 duplicate profile id 'bar-till'/,
  },
  {
    name: 'duplicate staff',
    change: (s) => void s.staff!.push({ uid: STAFF.cashier, name: 'Cara again', roles: ['topup'] }),
    message: new RegExp(`/staff/4 duplicate staff uid '${STAFF.cashier}'`),
  },
  {
    name: 'supervisor without PIN',
    change: (s) => void s.staff!.push({ uid: '0A00000F', name: 'No Pin', roles: ['cashier', 'supervisor'] }),
    message: /\/staff\/4 role cashier,supervisor needs a pin/,
  },
  {
    name: 'staff PIN that is no PIN',
    change: (s) => void (s.staff![2]!.pin = '12ab'),
    message: /invalid event set-up: .*staff/,
  },
  {
    name: 'staff uid that is also a guest wristband',
    change: (s) => void s.staff!.push({ uid: OPS_UID.alice, name: 'Alice at work', roles: ['cashier'] }),
    message: new RegExp(`/wristbands/0 uid '${OPS_UID.alice}' is a staff wristband`),
  },
  {
    name: 'profile product missing at a booth that uses it',
    // The bar till sells 'cup'; the food booth has none.
    change: (s) => void (s.kiosks.find((k) => k.id === 'food-1')!.profile = 'bar-till'),
    message: /\/tillProfiles\/0\/products\/0 'beer' is not a product of every booth using this profile/,
  },
  {
    name: 'profile product that exists nowhere',
    change: (s) => void s.tillProfiles![0]!.products!.push('champagne'),
    message: /\/tillProfiles\/0\/products\/6 'champagne' is not a product of every booth/,
  },
  {
    name: 'duplicate cash register',
    change: (s) => void s.cashRegisters!.push({ id: 'drawer-1', name: 'Again' }),
    message: /\/cashRegisters\/2 duplicate register id 'drawer-1'/,
  },
  {
    name: 'tax rate above 100 %',
    change: (s) => void (s.products[0]!.taxRate = 10_001),
    message: /invalid event set-up: .*taxRate/,
  },
  {
    name: 'negative vouchers',
    change: (s) => void (s.wristbands[0]!.vouchers = -1),
    message: /invalid event set-up: .*vouchers/,
  },
  {
    name: 'variant with capitals',
    change: (s) => void (s.wristbands[0]!.variant = 'Under16'),
    message: /invalid event set-up: .*variant/,
  },
  {
    name: 'offline cap below zero',
    change: (s) => void (s.offline!.perTagCapCents = -1),
    message: /invalid event set-up: .*perTagCapCents/,
  },
]

t.test('the operations set-up is valid and imports', async (t) => {
  const setup = opsSetup()
  t.doesNotThrow(() => parseEventSetup(clone(setup)))
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  ledger.registry.importEventSetup(parseEventSetup(clone(setup)))
  t.same(ledger.checkInvariants(), [])
})

t.test('each mistake is refused with a clear message and nothing is imported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-setup-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const setup = clone(opsSetup())
      c.change(setup)
      t.throws(() => parseEventSetup(setup), c.message)
      t.throws(() => parseEventSetup(setup), EventSetupError)
      // From a file, as the gateway loads it: the message names the file, and the gateway never gets to import.
      const file = join(dir, `${c.name.replace(/[^a-z0-9]+/gi, '-')}.json`)
      writeFileSync(file, JSON.stringify(setup))
      t.throws(() => loadEventSetup(file), { name: 'EventSetupError', message: new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid event set-up`) })
      // A ledger that had the good set-up keeps it: the refused one never reaches importEventSetup.
      const db = openLedgerDatabase(':memory:')
      t.teardown(() => db.close())
      const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
      ledger.registry.importEventSetup(opsSetup())
      const before = ledger.registry.kioskConfig('bar-1')
      let parsed: EventSetup | undefined
      try {
        parsed = parseEventSetup(setup)
      } catch {
        parsed = undefined
      }
      if (parsed !== undefined) ledger.registry.importEventSetup(parsed)
      t.equal(parsed, undefined)
      t.same(ledger.registry.kioskConfig('bar-1'), before)
    })
  }
})

t.test('the messages never quote a staff PIN', async (t) => {
  const setup = clone(opsSetup())
  setup.staff!.push({ uid: STAFF.supervisor, name: 'Twice', roles: ['supervisor'], pin: '55667788' })
  const err = t.throws(() => parseEventSetup(setup)) as Error
  t.match(err.message, /duplicate staff uid/)
  t.notMatch(err.message, /55667788|90817263/)
})
