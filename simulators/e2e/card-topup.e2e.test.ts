// Card top-ups end to end: the real gateway (aedes on loopback, SQLite ledger,
// ingest) and real kiosk daemons with a scripted card terminal. A card top-up
// is booked against the card-terminal clearing account exactly once, whatever
// crashes, unknown outcomes, restarts or other kiosks do.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import type { Gateway } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import type { CardTopUpHooks } from '../../daemon/card-topup.js'
import { FakeReader } from '../../daemon/testing/fake-reader.js'
import { FakeTerminal } from '../../daemon/testing/fake-terminal.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const OTHER_GUEST = '04A1B2C3D4E5F7'
const CLEARING = 'clearing:card-terminal'
const TAG = { uid: GUEST, type: 'ntag215' }
const token = () => randomBytes(24).toString('base64url')

t.test('card top-ups through the gateway: booked once, never lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-card-e2e-'))
  const tokens = { a: token(), b: token(), bar: token() }
  const setup: EventSetup = {
    event: { name: 'card e2e', currency: 'EUR' },
    booths: [
      { id: 'topup', name: 'Top-up' },
      { id: 'bar', name: 'Bar' },
    ],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'topup-1', booth: 'topup', token: tokens.a, saleAllowed: false, topupAllowed: true },
      { id: 'topup-2', booth: 'topup', token: tokens.b, saleAllowed: false, topupAllowed: true },
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: false },
    ],
    wristbands: [
      { uid: GUEST, pin: 'GUEST2345' },
      { uid: OTHER_GUEST, pin: 'THRGST2345' },
    ],
  }
  const gateway: Gateway = await startLoopbackGateway({ dir, setup, logger: silent })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const running = new Set<KioskDaemon>()
  t.teardown(async () => {
    for (const d of running) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const terminalA = new FakeTerminal('52500038')
  const terminalB = new FakeTerminal('52500099')
  const tokenOf: Record<string, string> = { 'topup-1': tokens.a, 'topup-2': tokens.b, 'bar-1': tokens.bar }

  /** Starts (or restarts, on the same data directory) a kiosk daemon with its terminal. */
  async function startKiosk(kioskId: string, terminal: FakeTerminal, cardHooks?: CardTopUpHooks) {
    const reader = new FakeReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId, token: tokenOf[kioskId]!, mqttUrl, dataDir: join(dir, kioskId), overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000, reconnectInitialDelayMs: 20, reconnectMaxDelayMs: 200 } }),
      logger: silent,
      clock: systemClock,
      reader,
      terminal,
      ...(cardHooks ? { cardHooks } : {}),
    })
    running.add(daemon)
    gateway.ledger.registry.enrollKiosk(kioskId, daemon.publicKeyBase64Url)
    await daemon.start()
    await waitUntil(() => daemon.status().connected && daemon.status().config !== null && daemon.status().chain.status === 'intact', `${kioskId} connected with its config and its chain checked`, 500, 20)
    const stop = async () => {
      await daemon.stop()
      running.delete(daemon)
    }
    return { daemon, reader, stop }
  }

  const api = (daemon: KioskDaemon) => {
    const { host, port } = daemon.apiAddress()!
    return async (path: string, body?: unknown) => {
      const res = await fetch(`http://${host}:${port}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
  }
  const cardBookings = () => {
    const s = gateway.ledger.stats()
    return s.accepted + s.rejected
  }

  let kioskA = await startKiosk('topup-1', terminalA)

  await t.test('approved over the local API: booked to the card clearing account, balance up', async (t) => {
    const call = api(kioskA.daemon)
    const pending = call('/topup/card', { amount: 2_000 })
    await kioskA.reader.tapWhenReady(TAG)
    const res = await pending
    t.equal(res.status, 200)
    t.match(res.body, { status: 'accepted', balance: 2_000, amount: 2_000, payment: { terminalId: '52500038', traceNumber: '000001' } })
    t.equal(gateway.ledger.balanceOf(GUEST), 2_000)
    t.equal(gateway.ledger.accountBalance(CLEARING), -2_000)
    const record = gateway.ledger.transaction(String(res.body.id))!
    t.match(record, { type: 'topup_card', status: 'accepted', amount: 2_000 })
    t.match(record.envelope.tx.payment, { terminalId: '52500038', receiptNumber: '0001', traceNumber: '000001' })
    t.same(gateway.ledger.checkInvariants(), [])
  })

  await t.test('declined: nothing reaches the ledger', async (t) => {
    const before = cardBookings()
    terminalA.onPay = (amount, term) => term.refuse(amount)
    const call = api(kioskA.daemon)
    const pending = call('/topup/card', { amount: 5_000 })
    await kioskA.reader.tapWhenReady(TAG)
    const res = await pending
    t.match(res, { status: 200, body: { status: 'declined', resultCode: 5 } })
    t.equal(cardBookings(), before)
    t.equal(gateway.ledger.balanceOf(GUEST), 2_000)
    t.equal(gateway.ledger.accountBalance(CLEARING), -2_000)
    terminalA.onPay = (amount, term) => term.approve(amount)
  })

  await t.test('crash after approval, before the outbox: the restarted daemon recovers it and it is booked exactly once', async (t) => {
    await kioskA.stop()
    let crashes = 0
    kioskA = await startKiosk('topup-1', terminalA, {
      afterTerminalAnswer: () => {
        crashes += 1
        throw new Error('simulated crash')
      },
    })
    const [crashed] = await Promise.allSettled([kioskA.daemon.kiosk.cardTopUp(1_500), kioskA.reader.tapWhenReady(TAG)])
    t.match(crashed, { status: 'rejected', reason: { message: 'simulated crash' } })
    t.equal(crashes, 1)
    t.equal(gateway.ledger.balanceOf(GUEST), 2_000, 'not booked yet')
    t.equal(kioskA.daemon.status().counters.cardPaymentsUnresolved, 1)
    await kioskA.stop()

    // The restart asks the terminal for its last transaction and sends the top-up.
    kioskA = await startKiosk('topup-1', terminalA)
    await waitUntil(() => gateway.ledger.balanceOf(GUEST) === 3_500, 'the recovered top-up booked', 500, 20)
    await waitUntil(() => kioskA.daemon.outbox.depth() === 0, 'answered', 500, 20)
    t.equal(gateway.ledger.accountBalance(CLEARING), -3_500)
    t.match(kioskA.daemon.status().counters, { cardRecovered: 1, cardPaymentsUnresolved: 0 })
    t.same(terminalA.payCalls, [2_000, 5_000, 1_500], 'the guest was charged once for it')

    // And once more: nothing is left to recover, nothing is booked again.
    const count = cardBookings()
    await kioskA.stop()
    kioskA = await startKiosk('topup-1', terminalA)
    await kioskA.daemon.kiosk.recoverCardPayments()
    t.equal(cardBookings(), count)
    t.equal(gateway.ledger.balanceOf(GUEST), 3_500)
    t.same(gateway.ledger.checkInvariants(), [])
  })

  await t.test('unknown outcome: card top-ups refused until a supervisor resolves it, then booked once', async (t) => {
    terminalA.onPay = (amount) => ({ status: 'unknown', amountCents: amount, message: 'connection lost' })
    terminalA.recoverAnswer = { status: 'unknown', amountCents: 1_000 }
    const call = api(kioskA.daemon)
    const pending = call('/topup/card', { amount: 1_000 })
    await kioskA.reader.tapWhenReady(TAG)
    t.match(await pending, { status: 202, body: { status: 'unresolved', amount: 1_000 } })
    t.match(await call('/state'), { status: 200, body: { counters: { cardPaymentsUnresolved: 1 }, terminal: { connected: true, terminalId: '52500038' } } })
    t.match(await call('/topup/card', { amount: 700 }), { status: 409, body: { type: 'card_payment_unresolved', id: String, message: /supervisor/ } })
    t.equal(kioskA.reader.listenerCount('tag'), 0, 'the guest is not asked to tap')

    const before = cardBookings()
    const resolved = await call('/topup/card/resolve', { outcome: 'approved', receiptNumber: '0042', traceNumber: '000042' })
    t.match(resolved, { status: 200, body: { status: 'accepted', balance: 4_500, payment: { terminalId: '52500038', receiptNumber: '0042', traceNumber: '000042' } } })
    t.equal(cardBookings(), before + 1)
    t.match(await call('/topup/card/resolve', { outcome: 'approved' }), { status: 409, body: { type: 'no_unresolved_card_payment' } })
    t.equal(gateway.ledger.balanceOf(GUEST), 4_500)
    t.equal(gateway.ledger.accountBalance(CLEARING), -4_500)
    t.match(kioskA.daemon.status().counters, { cardPaymentsUnresolved: 0, cardResolvedBySupervisor: 1 })
    terminalA.onPay = (amount, term) => term.approve(amount)
    terminalA.recoverAnswer = undefined
  })

  await t.test('the same terminal reference from another kiosk: duplicate_payment, nothing booked', async (t) => {
    const kioskB = await startKiosk('topup-2', terminalB)
    // Terminal B reports terminal A's first approved payment (a mis-wired or replaying terminal).
    terminalB.onPay = (amount) => ({ status: 'approved', amountCents: amount, resultCode: 0, terminalId: '52500038', receiptNumber: '0001', traceNumber: '000001' })
    const before = { count: cardBookings(), other: gateway.ledger.balanceOf(OTHER_GUEST), clearing: gateway.ledger.accountBalance(CLEARING) }
    const [outcome] = await Promise.all([kioskB.daemon.kiosk.cardTopUp(2_000), kioskB.reader.tapWhenReady({ uid: OTHER_GUEST, type: 'ntag215' })])
    t.match(outcome, { status: 'rejected', reason: 'duplicate_payment' })
    t.equal(cardBookings(), before.count + 1, 'recorded as a refusal')
    t.equal(gateway.ledger.balanceOf(OTHER_GUEST), before.other)
    t.equal(gateway.ledger.accountBalance(CLEARING), before.clearing)
    t.equal(kioskB.daemon.status().counters.cardTopUpsRefused, 1, 'the kiosk flags it for a refund')
    t.equal(gateway.ledger.stats().rejectedByReason.duplicate_payment, 1)

    // A card top-up at a kiosk whose booth may not top up is refused by the kiosk before the card is charged.
    const bar = await startKiosk('bar-1', new FakeTerminal('52500077'))
    await t.rejects(bar.daemon.kiosk.cardTopUp(1_000), { name: 'KioskError', type: 'topup_not_allowed' }, 'refused before the card is charged')
    t.same(gateway.ledger.checkInvariants(), [])
    t.equal(gateway.ledger.sumOfAllBalances(), 0)
  })
})
