// The portal shows each guest their transfer reference and the organiser's
// account (event set-up portal.bankAccount), and a transfer with that reference
// in a bank import job books to that guest's wristband (on SQLite and on
// PostgreSQL).
import t from 'tap'
import pino from 'pino'
import { call, login } from '../../portal-api/testing/helpers.js'
import { EventSetupError, parseEventSetup } from '../event-setup.js'
import { testSetup } from '../ledger/testing/test-helpers.js'
import { startPortalWorld, PIN, UID } from '../testing/portal-world.js'
import { worldEngines } from '../testing/world-engines.js'
import { bankTransferDetails } from './bank-transfer-details.js'
import { createBankImportJobs } from './import-jobs.js'
import { createImportQueue } from './import-queue.js'
import { createTransferCodes } from './transfer-codes.js'
import { isValidCreditorReference } from './transfer-reference.js'

const ACCOUNT = { holder: 'Test Fest GmbH', iban: 'de89 3704 0044 0532 0130 00', bic: 'cobadeffxxx' }

for (const engine of await worldEngines(t)) {
  t.test(`${engine.name}: the portal shows the transfer reference and the account; a transfer with it tops up that wristband`, async (t) => {
    const pw = await startPortalWorld(t, {
      database: engine.database(t),
      bankTransfer: (world) => bankTransferDetails({ transferCodes: createTransferCodes({ db: world.db, clock: world.clock }), bankAccount: () => world.ledger.registry.portalBankAccount() }),
    })
    const alice = await login(pw.base, PIN.alice)
    const bob = await login(pw.base, PIN.bob)

    const none = await call(pw.base, 'GET', '/bank_transfer', { token: alice })
    t.equal(none.status, 404, 'no account in the event set-up: no bank transfers')
    t.equal(none.body.type, 'bank_transfer_unavailable')
    t.equal((await call(pw.base, 'GET', '/bank_transfer', {})).status, 401)

    const base = testSetup()
    pw.ledger.registry.importEventSetup(parseEventSetup({ ...base, portal: { bankAccount: ACCOUNT } }))
    const shown = await call(pw.base, 'GET', '/bank_transfer', { token: alice })
    t.equal(shown.status, 200)
    t.match(shown.body, { account_holder: 'Test Fest GmbH', iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX' })
    t.ok(isValidCreditorReference(shown.body.reference))
    t.equal(shown.body.reference_display.replace(/ /g, ''), shown.body.reference)
    t.same((await call(pw.base, 'GET', '/bank_transfer', { token: alice })).body, shown.body, 'the same every time')
    const bobs = (await call(pw.base, 'GET', '/bank_transfer', { token: bob })).body
    t.not(bobs.reference, shown.body.reference, 'one per wristband')

    // The reference as the guest typed it into their banking app books to Alice, not Bob.
    const codes = createTransferCodes({ db: pw.world.db, clock: pw.world.clock })
    const jobs = createBankImportJobs({ db: pw.world.db, ledger: pw.ledger, transferCodes: codes, clock: pw.world.clock, logger: pino({ level: 'silent' }), currency: 'EUR' })
    const queue = createImportQueue({ jobs, logger: pino({ level: 'silent' }) })
    const before = pw.ledger.balanceOf(UID.alice)!
    const id = jobs.create({ event: null, transactions: [{ payer: 'A', reference: `Festival ${shown.body.reference_display.toLowerCase()}`, amount: '40.00', date: '2026-06-01' }], createdBy: 'admin' })
    queue.kick()
    await queue.drained()
    t.equal(jobs.job(id)!.transactions[0]!.state, 'valid')
    t.equal(pw.ledger.balanceOf(UID.alice), before + 4000)
    t.same(pw.ledger.checkInvariants(), [])

    // Taken out of the set-up again: no bank transfers.
    pw.ledger.registry.importEventSetup(parseEventSetup(base))
    t.equal((await call(pw.base, 'GET', '/bank_transfer', { token: alice })).status, 404)
  })
}

t.test('an organiser account that is not an IBAN or BIC is refused at import', async (t) => {
  const base = testSetup()
  t.throws(() => parseEventSetup({ ...base, portal: { bankAccount: { ...ACCOUNT, iban: 'DE89370400440532013001' } } }), EventSetupError)
  t.throws(() => parseEventSetup({ ...base, portal: { bankAccount: { ...ACCOUNT, bic: 'COBAXXFF' } } }), /bic/)
  t.throws(() => parseEventSetup({ ...base, portal: { bankAccount: { holder: '', iban: ACCOUNT.iban } } }), EventSetupError)
  t.throws(() => parseEventSetup({ ...base, portal: { bankAccount: { ...ACCOUNT, extra: 1 } } }), EventSetupError)
  t.ok(parseEventSetup({ ...base, portal: { bankAccount: { holder: 'X', iban: 'DE89370400440532013000' } } }))
})
