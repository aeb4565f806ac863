// Kiosk operations end to end over real parts: the gateway (aedes on a
// loopback socket, SQLite file) and two real kiosk daemons with in-memory
// readers. Staff log in with their wristbands; a bar sells with a cup
// deposit and cancels it; a balance check; the gateway goes away and the bar
// keeps selling offline within its caps; when the gateway is back the offline
// sale is booked and the debt it made is flagged; the cash desk runs a shift
// with a top-up, a ticket sale onto a new wristband and the close-out.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Gateway } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { KioskError } from '../../daemon/kiosk.js'
import { createMemoryReader, type MemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, tapAndAwait, startLoopbackGateway } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const NEW_GUEST = '04C0FFEEC0FFEE'
const BARKEEP = '04BA0000000001'
const DESK = '04DE5C00000001'
const token = () => randomBytes(24).toString('base64url')
const ADMIN_TOKEN = token()

t.test('staff, deposits, cancel, balance check, offline sale with a flagged debt, and a cash shift with a ticket sale', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-ops-'))
  const tokens = { bar: token(), desk: token() }
  const setup: EventSetup = {
    event: { name: 'ops e2e', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'desk', name: 'Cash desk' },
    ],
    products: [
      { id: 'beer', name: 'Beer', price: 450, booth: 'bar', taxRate: 1900, restrictions: ['under18'] },
      { id: 'cup', name: 'Cup deposit', price: 200, booth: 'bar', kind: 'deposit' },
      { id: 'ticket', name: 'Day ticket', price: 3000, booth: 'desk', kind: 'ticket' },
    ],
    tillProfiles: [
      { id: 'bar', name: 'Bar', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 600_000 },
      { id: 'desk', name: 'Desk', sale: false, topupCash: true, topupCard: false, cashout: true, ticketSale: true, tagSwitch: false, cashRegister: true, cancelWindowMs: 0 },
    ],
    staff: [
      { uid: BARKEEP, name: 'Barkeep', roles: ['cashier'] },
      { uid: DESK, name: 'Desk', roles: ['topup'] },
    ],
    cashRegisters: [{ id: 'drawer-1', name: 'Drawer 1' }],
    offline: { allowed: true, perTagCapCents: 1_500, kioskTotalCapCents: 10_000 },
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: false, profile: 'bar' },
      { id: 'desk-1', booth: 'desk', token: tokens.desk, saleAllowed: false, topupAllowed: true, profile: 'desk' },
    ],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  let gateway: Gateway = await startLoopbackGateway({ dir, setup, logger: silent })
  const mqttPort = gateway.mqttAddress!.port
  const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`
  const daemons: KioskDaemon[] = []
  t.teardown(async () => {
    for (const d of daemons) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const overrides = { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000, reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200 }
  const start = async (kioskId: string, kioskToken: string) => {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({ config: kioskDaemonConfig({ kioskId, token: kioskToken, mqttUrl, dataDir: join(dir, kioskId), overrides }), logger: silent, clock: gatewayClock(), reader })
    daemons.push(daemon)
    gateway.ledger.registry.enrollKiosk(kioskId, daemon.publicKeyBase64Url)
    await daemon.start()
    return { daemon, reader }
  }
  const bar = await start('bar-1', tokens.bar)
  const desk = await start('desk-1', tokens.desk)
  await waitUntil(() => [bar, desk].every((k) => k.daemon.status().connected && k.daemon.status().config !== null && k.daemon.status().chain.status === 'intact'), 'kiosks connected with config and their chains checked', 500, 20)
  const tap = <T>(k: { reader: MemoryReader }, operation: Promise<T>, uid: string) => tapAndAwait(operation, k.reader, uid)
  /** The kiosk's refusal type, or 'none' when the operation went through. */
  const refusal = (operation: Promise<unknown>) => operation.then(() => 'none', (err: unknown) => (err instanceof KioskError ? err.type : String(err)))

  // Nothing is booked before a staff member logs in; a guest's wristband is no staff login.
  t.equal(await refusal(bar.daemon.kiosk.sale([{ product: 'beer', qty: 1 }])), 'not_logged_in')
  t.not(await refusal(tap(bar, bar.daemon.kiosk.login(), GUEST)), 'none', 'a guest wristband logs nobody in')
  t.match(await tap(bar, bar.daemon.kiosk.login(), BARKEEP), { uid: BARKEEP, name: 'Barkeep', roles: ['cashier'] })
  await tap(desk, desk.daemon.kiosk.login(), DESK)

  // Cash desk: open the shift, top the guest up in cash.
  t.match(await desk.daemon.kiosk.openShift('drawer-1', 5_000), { status: 'accepted' })
  t.match(await tap(desk, desk.daemon.kiosk.topUp(1_000), GUEST), { status: 'accepted', balance: 1_000 })

  // Bar: beer with a cup, then the cashier cancels it.
  const sale = await tap(bar, bar.daemon.kiosk.sale([{ product: 'beer', qty: 1 }, { product: 'cup', qty: 1 }]), GUEST)
  t.match(sale, { status: 'accepted', amount: 650, balance: 350 })
  t.equal(gateway.ledger.transaction(sale.id)?.envelope.tx.staff, BARKEEP, 'the transaction records who booked it')
  t.match(await bar.daemon.kiosk.cancelLast(), { status: 'accepted', balance: 1_000 })
  t.equal(await refusal(bar.daemon.kiosk.cancelLast()), 'nothing_to_cancel', 'a sale is cancelled once')

  // A balance check on a tap shows the balance and the recent history.
  const balance = await tap(bar, bar.daemon.kiosk.checkBalance(), GUEST)
  t.match(balance, { uid: GUEST, balance: 1_000, blocked: false, debt: false })
  t.ok(balance.recent.length >= 3, 'top-up, sale and cancel are in the history')

  // The gateway goes away: the bar sells offline within the per-wristband cap.
  await gateway.stop()
  await waitUntil(() => !bar.daemon.status().connected, 'the bar sees the gateway gone', 500, 20)
  const offline = await tap(bar, bar.daemon.kiosk.sale([{ product: 'beer', qty: 3 }]), GUEST)
  t.match(offline, { status: 'offline', amount: 1_350 })
  t.equal(await refusal(tap(bar, bar.daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), GUEST)), 'offline_limit', 'the per-wristband cap holds')

  // Back again on the same port and ledger: the offline sale is booked and the debt flagged.
  gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: { mqtt: { host: '127.0.0.1', port: mqttPort }, adminToken: ADMIN_TOKEN } })
  await waitUntil(() => bar.daemon.outbox.depth() === 0, 'the offline sale reaches the gateway', 1_000, 20)
  t.equal(gateway.ledger.transaction(offline.id)?.status, 'accepted')
  t.equal(gateway.ledger.balanceOf(GUEST), -350, 'booked although it took the balance below zero')
  t.match(gateway.ledger.debts(), [{ txId: offline.id, uid: GUEST, shortfall: 350, open: true }])
  t.equal(bar.daemon.outbox.answered(offline.id)?.status, 'accepted')

  // The cash desk sells a ticket onto a new wristband, with 5.00 on it; the PIN logs into the portal.
  await waitUntil(() => desk.daemon.status().connected, 'the desk is back online', 500, 20)
  const ticket = await tap(desk, desk.daemon.kiosk.sellTicket({ lines: [{ product: 'ticket', qty: 1 }], topup: 500 }), NEW_GUEST)
  t.match(ticket, { status: 'accepted', amount: 3_500, balance: 500 })
  t.ok(ticket.pin !== undefined && gateway.ledger.registry.verifyPin(NEW_GUEST, ticket.pin), 'the PIN shown is the new wristband\'s portal PIN')

  // Close-out: float 50.00 + top-up 10.00 + ticket 35.00 = 95.00 expected; 94.50 counted.
  const close = await desk.daemon.kiosk.closeShift(9_450)
  t.match(close, { status: 'accepted', expected: 9_500, difference: -50 })
  t.match(gateway.ledger.shiftReports(), [{ register: 'drawer-1', float: 5_000, expected: 9_500, counted: 9_450, difference: -50, cashTopups: { count: 1, cents: 1_000 }, tickets: { count: 1, cents: 3_500 } }])

  // The organiser changes the catalog (beer 5.00, no more cups) and reloads: the bar applies it live.
  t.equal(bar.daemon.status().staffRequired, true, 'the bar knows every transaction needs a staff login')
  const changed: EventSetup = { ...setup, products: setup.products.filter((p) => p.id !== 'cup').map((p) => (p.id === 'beer' ? { ...p, price: 500 } : p)) }
  writeFileSync(join(dir, 'event.json'), JSON.stringify(changed), { mode: 0o600 })
  const versionBefore = bar.daemon.status().config!.version
  const reload = await fetch(`http://127.0.0.1:${gateway.httpAddress!.port}/admin/event/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(await reload.json(), { products: 2, kiosksUpdated: 1 }, 'only the bar\'s config changed')
  await waitUntil(() => bar.daemon.status().config!.version > versionBefore, 'the bar has the new config', 500, 20)
  t.match(await tap(bar, bar.daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), NEW_GUEST), { status: 'accepted', amount: 500, balance: 0 }, 'the new price, with no restart')
  t.equal(await refusal(bar.daemon.kiosk.sale([{ product: 'cup', qty: 1 }])), 'unknown_product', 'a product gone from the catalog')
  t.same(gateway.ledger.checkInvariants(), [])
  t.equal(gateway.ledger.sumOfAllBalances(), 0)
})

/** The kiosks use the system clock, as on a real Pi. */
function gatewayClock() {
  return { now: () => Date.now() }
}
