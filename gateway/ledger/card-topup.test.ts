// Card top-ups (topup_card) in the ledger: booked against the card-terminal
// clearing account, the terminal's reference required and booked at most once
// across all kiosks and seqs.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { cardPaymentRef, envelopeHash, type CardPayment, type Envelope, type TxResult } from '../../device-protocol/index.js'
import { CARD_TERMINAL_CLEARING } from './rules.js'
import { UID, makeWorld, verified, type TestWorld } from './testing/test-helpers.js'
import { accountIds, type Outcome } from './types.js'

const CLEARING = accountIds.clearing(CARD_TERMINAL_CLEARING)

function resultOf(outcome: Outcome | undefined): TxResult & { booked: boolean; recorded: boolean; replay: boolean } {
  if (outcome?.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(outcome)}`)
  return { ...outcome.result, booked: outcome.booked, recorded: outcome.recorded, replay: outcome.replay }
}

const apply = (w: TestWorld, ...envelopes: Envelope[]) => w.ledger.applyBatch(envelopes.map(verified)).map(resultOf)

let traceCounter = 0
function payment(over: Partial<CardPayment> = {}): CardPayment {
  traceCounter += 1
  return { terminalId: '52500038', receiptNumber: String(1000 + traceCounter), traceNumber: String(traceCounter).padStart(6, '0'), maskedPan: '************0119', cardType: 'girocard', ...over }
}

const cardTopup = (kiosk: TestWorld['kiosks'][keyof TestWorld['kiosks']], uid: string, amount: number, pay: CardPayment | undefined, lines: Envelope['tx']['lines'] = []) =>
  kiosk.next({ type: 'topup_card', uid, amount, lines }, pay === undefined ? {} : { payment: pay })

interface Case {
  name: string
  make(k: TestWorld['kiosks']): Envelope
  status: 'accepted' | 'rejected'
  reason?: string
  /** alice's balance after (she starts with 1000 from a cash top-up). */
  alice: number
  clearing: number
}

const beer = { product: 'beer', qty: 1, unitPrice: 450 }
const cases: Case[] = [
  { name: 'card top-up at a top-up kiosk', make: (k) => cardTopup(k.cash, UID.alice, 2500, payment()), status: 'accepted', alice: 3500, clearing: -2500 },
  { name: 'card top-up at a combined kiosk', make: (k) => cardTopup(k.food, UID.alice, 1, payment({ maskedPan: undefined, cardType: undefined })), status: 'accepted', alice: 1001, clearing: -1 },
  { name: 'card top-up at a sale-only kiosk', make: (k) => cardTopup(k.bar, UID.alice, 2500, payment()), status: 'rejected', reason: 'topup_not_allowed', alice: 1000, clearing: 0 },
  { name: 'card top-up without the terminal reference', make: (k) => cardTopup(k.cash, UID.alice, 2500, undefined), status: 'rejected', reason: 'invalid_transaction', alice: 1000, clearing: 0 },
  { name: 'card top-up with lines', make: (k) => cardTopup(k.food, UID.alice, 450, payment(), [beer]), status: 'rejected', reason: 'invalid_transaction', alice: 1000, clearing: 0 },
  { name: 'card top-up of zero', make: (k) => cardTopup(k.cash, UID.alice, 0, payment()), status: 'rejected', reason: 'invalid_transaction', alice: 1000, clearing: 0 },
  { name: 'card top-up of an unknown tag', make: (k) => cardTopup(k.cash, UID.stranger, 100, payment()), status: 'rejected', reason: 'unknown_tag', alice: 1000, clearing: 0 },
  { name: 'card top-up of a blocked tag', make: (k) => cardTopup(k.cash, UID.blocked, 100, payment()), status: 'rejected', reason: 'tag_blocked', alice: 1000, clearing: 0 },
  { name: 'cash top-up carrying a card reference', make: (k) => k.cash.next({ type: 'topup_cash', uid: UID.alice, amount: 100 }, { payment: payment() }), status: 'rejected', reason: 'invalid_transaction', alice: 1000, clearing: 0 },
  { name: 'sale carrying a card reference', make: (k) => k.bar.next({ type: 'sale', uid: UID.alice, amount: 450, lines: [beer] }, { payment: payment() }), status: 'rejected', reason: 'invalid_transaction', alice: 1000, clearing: 0 },
]

t.test('each card top-up booking and refusal', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const w = makeWorld()
      t.teardown(w.close)
      t.match(apply(w, w.kiosks.cash.topup(UID.alice, 1000))[0], { status: 'accepted' })
      const envelope = c.make(w.kiosks)
      const got = apply(w, envelope)[0]!
      t.match(got, { status: c.status, id: envelope.tx.id, recorded: true, booked: c.status === 'accepted' })
      t.equal(got.reason, c.reason)
      t.equal(w.ledger.balanceOf(UID.alice), c.alice)
      t.equal(w.ledger.accountBalance(CLEARING) ?? 0, c.clearing)
      const record = w.ledger.transaction(envelope.tx.id)!
      if (c.status === 'accepted') {
        t.equal(got.balance, c.alice)
        t.same(
          [...record.postings].sort((a, b) => a.amount - b.amount),
          [
            { account: CLEARING, amount: -envelope.tx.amount },
            { account: accountIds.customer(envelope.tx.tag.uid), amount: envelope.tx.amount },
          ],
        )
        t.equal(w.ledger.stats().balancesByKind.clearing, c.clearing)
      } else {
        t.same(record.postings, [], 'a refusal books nothing')
      }
      t.same(w.ledger.kioskCursor(envelope.tx.kiosk), { nextSeq: envelope.tx.seq + 1, lastHash: envelopeHash(envelope) })
      t.same(w.ledger.checkInvariants(), [])
      t.equal(w.ledger.sumOfAllBalances(), 0)
    })
  }
})

t.test('a terminal reference is booked once: a second transaction naming it gets duplicate_payment', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const ref = payment()
  const first = cardTopup(w.kiosks.cash, UID.alice, 2000, ref)
  t.match(apply(w, first)[0], { status: 'accepted', balance: 2000, booked: true })

  // Same kiosk, next seq, same reference (a kiosk that recovered the payment twice).
  const again = cardTopup(w.kiosks.cash, UID.alice, 2000, ref)
  t.match(apply(w, again)[0], { status: 'rejected', reason: 'duplicate_payment', booked: false, recorded: true })
  // Another kiosk, another wristband, another amount, other optional fields: the reference alone decides.
  const elsewhere = cardTopup(w.kiosks.food, UID.bob, 700, { ...ref, maskedPan: '476173******0119', cardType: 'Visa' })
  t.match(apply(w, elsewhere)[0], { status: 'rejected', reason: 'duplicate_payment' })

  t.equal(w.ledger.balanceOf(UID.alice), 2000)
  t.equal(w.ledger.balanceOf(UID.bob), 0)
  t.equal(w.ledger.accountBalance(CLEARING), -2000)
  t.equal(w.ledger.stats().rejectedByReason.duplicate_payment, 2)
  // The refusals were recorded and the chains go on.
  t.same(w.ledger.kioskCursor('cash-1'), { nextSeq: 3, lastHash: envelopeHash(again) })
  t.match(apply(w, w.kiosks.cash.topup(UID.alice, 100))[0], { status: 'accepted', balance: 2100 })

  // The resent first envelope is a replay (its first answer), not a duplicate.
  t.match(apply(w, first)[0], { status: 'accepted', balance: 2000, replay: true, booked: false })

  // Any part of the reference differing makes another payment.
  for (const other of [{ ...ref, traceNumber: '999999' }, { ...ref, receiptNumber: '9999' }, { ...ref, terminalId: '52500039' }]) {
    t.match(apply(w, cardTopup(w.kiosks.cash, UID.alice, 100, other))[0], { status: 'accepted' })
  }
  t.equal(w.ledger.balanceOf(UID.alice), 2400)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('two transactions with one reference in the same batch: the first is booked, the second refused', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const ref = payment()
  const results = apply(w, cardTopup(w.kiosks.cash, UID.alice, 500, ref), cardTopup(w.kiosks.food, UID.alice, 500, ref))
  t.match(results, [
    { status: 'accepted', balance: 500 },
    { status: 'rejected', reason: 'duplicate_payment' },
  ])
  t.equal(w.ledger.balanceOf(UID.alice), 500)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a refused card top-up does not hold the reference: the real booking of it still goes through', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const ref = payment()
  t.match(apply(w, cardTopup(w.kiosks.bar, UID.alice, 500, ref))[0], { status: 'rejected', reason: 'topup_not_allowed' })
  t.match(apply(w, cardTopup(w.kiosks.cash, UID.stranger, 500, ref))[0], { status: 'rejected', reason: 'unknown_tag' })
  t.match(apply(w, cardTopup(w.kiosks.cash, UID.alice, 500, ref))[0], { status: 'accepted', balance: 500 })
})

t.test('malformed or hostile card references are refused unrecorded and change nothing', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const bad: Array<[string, Record<string, unknown>]> = [
    ['full card number', { ...payment(), maskedPan: '4761739001010119' }],
    ['mostly visible card number', { ...payment(), maskedPan: '4761739001**0119' }],
    ['empty trace number', { ...payment(), traceNumber: '' }],
    ['trace number with a quote', { ...payment(), traceNumber: '12"3' }],
    ['receipt number too long', { ...payment(), receiptNumber: '1'.repeat(65) }],
    ['terminal id as a number', { ...payment(), terminalId: 52500038 }],
    ['missing receipt number', { terminalId: '1', traceNumber: '2' }],
    ['unknown field', { ...payment(), cvv: '123' }],
    ['card type with a control character', { ...payment(), cardType: 'Visa\u0000' }],
  ]
  for (const [name, pay] of bad) {
    const before = w.ledger.kioskCursor('cash-1')
    const base = w.kiosks.cash.next({ type: 'topup_card', uid: UID.alice, amount: 100 })
    w.kiosks.cash.history.pop()
    const envelope = w.kiosks.cash.sign({ ...base.tx, payment: pay } as never)
    const got = apply(w, envelope)[0]!
    t.match(got, { status: 'rejected', reason: 'invalid_transaction', recorded: false }, name)
    t.same(w.ledger.kioskCursor('cash-1'), before, `${name}: cursor unchanged`)
  }
  t.equal(w.ledger.balanceOf(UID.alice), 0)
  t.equal(w.ledger.stats().accepted + w.ledger.stats().rejected, 0)
})

t.test('the UNIQUE index refuses a second row with the same reference, whatever the code above it does', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const ref = payment()
  t.match(apply(w, cardTopup(w.kiosks.cash, UID.alice, 500, ref))[0], { status: 'accepted' })
  const row = w.db.prepare(`SELECT * FROM transactions WHERE payment_ref = ?`).get(cardPaymentRef(ref)) as Record<string, unknown>
  t.ok(row, 'the accepted row holds the reference')
  t.throws(
    () => w.db.prepare(`INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref) SELECT ?, kiosk, seq + 100, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, ?, payment_ref FROM transactions WHERE id = ?`).run('dup-id', 'other-receipt', row.id),
    { code: 'SQLITE_CONSTRAINT_UNIQUE' },
  )
})

t.test('a ledger database from before card top-ups gets the column and index when opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-card-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const old = makeWorld(path)
  t.match(apply(old, old.kiosks.cash.topup(UID.alice, 100))[0], { status: 'accepted' })
  // Take the schema back to what it was before.
  old.db.exec(`DROP INDEX transactions_by_payment_ref; ALTER TABLE transactions DROP COLUMN payment_ref`)
  // Such a database says schema version 2 (the column was added in place then); gateway/migrations.ts adopts it.
  old.db.exec(`UPDATE meta SET value = '2' WHERE key = 'schema_version'`)
  old.close()

  const w = makeWorld(path)
  t.teardown(w.close)
  const columns = (w.db.prepare(`SELECT name FROM pragma_table_info('transactions')`).all() as Array<{ name: string }>).map((c) => c.name)
  t.ok(columns.includes('payment_ref'))
  t.ok(w.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'transactions_by_payment_ref'`).get(), 'unique index back')
  t.equal(w.ledger.balanceOf(UID.alice), 100, 'history kept')
})

t.test("the terminal's card details (technology, cardholder verification, AID, long trace number) are kept with the booking; hostile values are refused and book nothing", async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const details = { cardTechnology: 'contactless', cardholderVerification: 'online_pin', aid: 'A0000000041010', longReceiptNumber: '000000000042' }
  const booked = cardTopup(w.kiosks.cash, UID.alice, 2000, payment(details))
  t.match(apply(w, booked)[0], { status: 'accepted', balance: 2000 })
  t.match(w.ledger.transaction(booked.tx.id)!.envelope.tx.payment, details, 'the stored envelope keeps them')
  const hostile: Array<[string, Partial<CardPayment>]> = [
    ['card technology with a control character', { cardTechnology: 'chip\u001b[2J' }],
    ['card technology with markup', { cardTechnology: '<script>' }],
    ['cardholder verification too long', { cardholderVerification: 'a'.repeat(41) }],
    ['an AID that is not hex bytes', { aid: 'A00000000G' }],
    ['an AID of an odd number of digits', { aid: 'A000000004101' }],
    ['an AID longer than 16 bytes', { aid: 'A0'.repeat(17) }],
    ['a long trace number with letters', { longReceiptNumber: '12ab' }],
    ['a long trace number of 21 digits', { longReceiptNumber: '1'.repeat(21) }],
    ['an unknown extra field', { pan: '4761739001010119' } as Partial<CardPayment>],
  ]
  for (const [name, over] of hostile) {
    const envelope = cardTopup(w.kiosks.cash, UID.alice, 500, payment(over))
    t.match(apply(w, envelope)[0], { status: 'rejected', reason: 'invalid_transaction', booked: false }, name)
    t.same(w.ledger.transaction(envelope.tx.id)?.postings ?? [], [], `${name}: nothing booked`)
  }
  t.equal(w.ledger.balanceOf(UID.alice), 2000, 'the balance is what the good top-up made it')
  t.same(w.ledger.checkInvariants(), [])
})
