// The users API (seed 001) gives a pre-registered guest the transfer reference
// of the wristband linked to their account, the same the portal shows.
import t from 'tap'
import { PIN, UID } from '../ledger/testing/test-helpers.js'
import { startHarness } from '../users-payments/testing/harness.js'
import { createTransferCodes, type TransferCodes } from './transfer-codes.js'
import { bankTransferDetails } from './bank-transfer-details.js'

const ACCOUNT = { holder: 'Test Fest GmbH', iban: 'DE89370400440532013000' }

t.test('a user with a linked wristband gets its reference; without one, or without an account, no reference', async (t) => {
  let codes: TransferCodes | undefined
  let account: typeof ACCOUNT | undefined = ACCOUNT
  const h = await startHarness(t, { bankTransfer: (uid) => bankTransferDetails({ transferCodes: codes!, bankAccount: () => account })(uid) })
  codes = createTransferCodes({ db: h.world.db, clock: h.world.clock })
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')

  const before = await h.api('GET', `/user/${a.userId}/bank-transfer`, undefined, a.token)
  t.equal(before.status, 409)
  t.equal(before.body.type, 'wristband_not_linked')

  t.equal((await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.alice, pin: PIN.alice }, a.token)).status, 201)
  const got = await h.api('GET', `/user/${a.userId}/bank-transfer`, undefined, a.token)
  t.equal(got.status, 200)
  t.same(got.body, { reference: codes.referenceOf(UID.alice).compact, referenceDisplay: codes.referenceOf(UID.alice).display, accountHolder: 'Test Fest GmbH', iban: 'DE89 3704 0044 0532 0130 00', bic: null })

  t.equal((await h.api('GET', `/user/${a.userId}/bank-transfer`, undefined, b.token)).status, 403, "not another user's")
  t.equal((await h.api('GET', `/user/${a.userId}/bank-transfer`)).status, 401)
  account = undefined
  const off = await h.api('GET', `/user/${a.userId}/bank-transfer`, undefined, a.token)
  t.equal(off.status, 404)
  t.equal(off.body.type, 'bank_transfer_unavailable')
  t.same(h.world.ledger.checkInvariants(), [])
})
