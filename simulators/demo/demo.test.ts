// The demo is the first thing a new user runs: it must book sales, top-ups,
// tickets and cash shifts from several kiosks, lose and double nothing, and
// keep the ledger balanced.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { centsFromDecimalString } from '../../device-protocol/money.js'
import { parseStatement } from '../../gateway/bank/statements/index.js'
import { parsePain001 } from '../bank-sim/pain001.js'
import { DEMO_BANK_TOPUP_CENTS, DEMO_RETURN_SHARE, type BankRoundTripSummary, type PayoutRunSummary } from './demo-payouts.js'
import { demoProviderSound, DEMO_CARD_GUESTS, type ProviderReconciliationSummary } from './demo-provider.js'
import { runDemo } from './demo.js'
import { main as monitorMain } from '../../gateway/monitor/bin.js'
import type { MonitorSnapshot } from '../../gateway/monitor/render.js'

/**
 * While the demo runs: the monitor command it printed, run in-process with --once --json until every kiosk is
 * online in the gateway's fleet rows (bounded), and its last snapshot.
 */
async function monitorTheDemo(lines: readonly string[], kiosks: number): Promise<{ command: string; code: number; stderr: string; snapshot: MonitorSnapshot | null }> {
  const command = lines.find((l) => l.startsWith('fleet monitor: ')) ?? ''
  const m = /^fleet monitor: WRISTPAY_MONITOR_TOKEN=(\S+) npm run --silent monitor -- (.+)$/.exec(command)
  if (m === null) return { command, code: -1, stderr: 'no monitor command printed', snapshot: null }
  let last = { command, code: -1, stderr: '', snapshot: null as MonitorSnapshot | null }
  for (let attempt = 0; attempt < 50; attempt++) {
    const out: string[] = []
    const err: string[] = []
    const code = await monitorMain([...m[2]!.split(' '), '--once', '--json'], { env: { WRISTPAY_MONITOR_TOKEN: m[1] }, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } })
    last = { command, code, stderr: err.join(''), snapshot: code === 0 ? (JSON.parse(out.join('')) as MonitorSnapshot) : null }
    if (last.snapshot !== null && last.snapshot.fleet.filter((r) => r.status === 'online').length >= kiosks) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return last
}

/** While the demo runs: the console login it printed, asked of the console's whoami with the operator's own credentials. */
async function whoAmIInTheConsole(lines: readonly string[]): Promise<{ status: number; body: unknown; token?: string }> {
  const url = /^operator console: (\S+)$/.exec(lines.find((l) => l.startsWith('operator console: ')) ?? '')?.[1]
  const login = /^console login: operator (\S+) token (\S+) \(admin: may act and enroll kiosks; ops-watch only reads\)$/.exec(lines.find((l) => l.startsWith('console login: ')) ?? '')
  if (url === undefined || login === null) return { status: -1, body: 'no console URL or login printed' }
  const answer = await fetch(`${url}api/whoami`, { headers: { 'wristpay-operator': `${login[1]}:${login[2]}` } })
  return { status: answer.status, body: await answer.json(), token: login[2]! }
}

t.test('a short demo run: booths sell, the top-up station and the cash desk run cash shifts, nothing is lost', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wristpay-demo-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const lines: string[] = []
  let monitored: Awaited<ReturnType<typeof monitorTheDemo>> | undefined
  let consoleLogin: Awaited<ReturnType<typeof whoAmIInTheConsole>> | undefined
  const summary = await runDemo({ durationS: 5, kiosks: 4, guests: 12, readers: ['serial', 'ble'], mqttPort: 0, httpPort: 0, dataDir }, (line) => lines.push(line), {
    whileRunning: async () => {
      monitored = await monitorTheDemo(lines, 4)
      consoleLogin = await whoAmIInTheConsole(lines)
    },
  })
  t.match(summary, { lost: 0, duplicates: 0, ledgerBalanced: true, errors: 0 })
  t.ok((summary.accepted as number) > 0, 'sales were accepted')
  const revenue = summary.revenueByBooth as Record<string, number>
  t.ok((revenue.bar ?? 0) > 0 && (revenue.food ?? 0) > 0, 'both booths earned revenue')
  t.ok((revenue.cashdesk ?? 0) > 0, 'the cash desk sold tickets')
  type RegisterSummary = { float: number; cashTopups: number; cashouts: number; tickets: number; expected: number; counted: number; difference: number; closed: boolean }
  const registers = summary.cashByRegister as Record<string, RegisterSummary>
  t.same(Object.keys(registers).sort(), ['drawer-cashdesk-1', 'drawer-topup-1'], 'one register per cash till')
  for (const [id, r] of Object.entries(registers)) {
    t.equal(r.closed, true, `${id}: the shift was closed at the end`)
    t.equal(r.expected, r.float + r.cashTopups + r.tickets - r.cashouts, `${id}: expected cash = float + cash in - cash out`)
    t.equal(r.difference, r.counted - r.expected, `${id}: difference = counted - expected`)
  }
  t.equal(registers['drawer-cashdesk-1']?.difference, -50, 'the cash desk counted 50 cents short')
  t.equal(summary.imbalance, -50, 'and the difference went to the imbalance account')
  t.ok(lines.some((l) => /bar-1 \(serial reader\), food-1 \(ble reader\), topup-1 \(serial reader\), cashdesk-1 \(ble reader\)/.test(l)), 'the kiosks got the reader kinds asked for, in turn')
  t.ok(lines.some((l) => /tx\/s .* accepted \d+ .* latency p50 .* outbox \d+ .* kiosks online 4\/4/.test(l)), 'a status line was printed')
  t.ok(lines.some((l) => /^operator console: http:\/\/127\.0\.0\.1:\d+\/console\/$/.test(l)), "the console's URL was printed")
  // The console account the demo printed is an admin one: its buttons work in the demo.
  t.match(consoleLogin, { status: 200, body: { name: 'ops-admin', admin: true } }, 'the printed console login is an admin operator account')
  t.notOk(readFileSync(join(dataDir, 'demo.log'), 'utf8').includes(consoleLogin?.token ?? 'no token printed'), "the admin's token is not in the log file")
  // The monitor command the demo printed, run while the demo ran: every demo kiosk online in the gateway's fleet.
  t.match(monitored?.command, /^fleet monitor: WRISTPAY_MONITOR_TOKEN=\S+ npm run --silent monitor -- --url mqtt:\/\/127\.0\.0\.1:\d+ --operator ops-watch$/)
  t.equal(monitored?.code, 0, monitored?.stderr ?? '')
  t.match(monitored?.snapshot, { gateway: { status: 'online' }, monitor: { operator: 'ops-watch', connected: true } })
  t.same(
    monitored?.snapshot?.fleet.map((r) => [r.kiosk, r.status]).sort(),
    ['bar-1', 'cashdesk-1', 'food-1', 'topup-1'].map((k) => [k, 'online']),
    'wristpay-monitor --once --json lists every demo kiosk online',
  )

  // After the event: the payout run of the guests who registered a bank account, and the bank statement's round trip,
  // checked against the files the demo wrote and the gateway's database.
  t.same(Object.keys(summary).slice(-3), ['payoutRun', 'bankRoundTrip', 'providerReconciliation'], 'the summary ends with the payout run, the bank round trip and the provider reconciliation')
  const run = summary.payoutRun as PayoutRunSummary
  const trip = summary.bankRoundTrip as BankRoundTripSummary
  t.match(run, { exported: true, creatorApprovalRefused: true, createdBy: 'ops-anna', approvedBy: 'ops-ben' })
  const pain = parsePain001(readFileSync(run.file, 'utf8'))
  t.ok(run.count > 0, 'guests were paid back')
  t.equal(run.count, pain.transfers.length, 'one transfer per payout in the bank file')
  t.equal(run.sumCents, pain.transfers.reduce((sum, tx) => sum + tx.amountCents, 0), 'the sum the bank file sends')
  const db = new Database(join(dataDir, 'gateway', 'gateway.sqlite'), { readonly: true })
  const accountBalance = (id: string) => db.prepare<[string], { balance: number }>('SELECT balance FROM accounts WHERE id = ?').get(id)?.balance ?? 0
  t.equal(run.donationsCents, accountBalance('donation:event'), 'the donations the ledger holds')
  const statement = parseStatement(readFileSync(join(dirname(run.file), `statement-run-${run.id}.camt053.xml`)))
  const cents = (txs: typeof statement.transactions) => txs.reduce((sum, tx) => sum + centsFromDecimalString(tx.amount.replace(/^-/, ''))!, 0)
  const returned = statement.transactions.filter((tx) => tx.returnReason !== undefined)
  const topups = statement.transactions.filter((tx) => !tx.amount.startsWith('-') && tx.returnReason === undefined)
  t.match(trip, {
    payouts: run.count,
    payoutsConfirmed: run.count,
    returned: Math.round(DEMO_RETURN_SHARE * run.count),
    topups: 1,
    topupCents: DEMO_BANK_TOPUP_CENTS,
    entries: statement.transactions.length,
    reimportAlready: statement.transactions.length,
    reimportBooked: 0,
    ledgerBalanced: true,
  })
  t.same([trip.returned, trip.returnedCents, trip.topups, trip.topupCents], [returned.length, cents(returned), topups.length, cents(topups)], 'what the bank statement says')
  t.equal(accountBalance('payout:sepa'), run.sumCents - trip.returnedCents, 'paid out and not come back')
  const card = summary.providerReconciliation as ProviderReconciliationSummary
  t.equal(accountBalance('clearing:bank'), -trip.topupCents - card.netCents, 'the bank top-up reached a wristband once; the provider\'s payout reached the bank')

  // The card side: its summary against the gateway's database (provider payouts, disputes, top-ups, refunds, the stored report).
  const one = <T>(sql: string) => db.prepare(sql).get() as T
  const payouts = one<{ n: number; fees: number; net: number }>(`SELECT count(*) AS n, total(fees + fees_vat) AS fees, total(net) AS net FROM provider_payouts WHERE provider = 'stancer' AND booking_id IS NOT NULL`)
  t.equal(card.payouts, payouts.n, 'every payout the provider made is booked, once')
  t.equal(card.feesCents, payouts.fees, 'the fees of the booked payouts')
  t.equal(card.feesCents, -accountBalance('expense:fees:stancer'), 'booked to expense:fees:stancer')
  t.equal(card.netCents, payouts.net)
  t.equal(card.matched.payments, one<{ n: number }>(`SELECT count(*) AS n FROM online_topups WHERE provider = 'stancer' AND status = 'paid'`).n, 'every online top-up matched to a payment')
  t.equal(card.matched.refunds, one<{ n: number }>(`SELECT count(*) AS n FROM card_refund_parts WHERE provider = 'stancer' AND state IN ('sent', 'succeeded')`).n, 'every refund the provider took matched')
  t.equal(one<{ n: number }>(`SELECT count(*) AS n FROM card_refund_parts WHERE provider = 'stancer' AND state = 'refused'`).n, 1, 'one refund refused by the card\'s bank')
  const disputes = one<{ open: number; amount: number }>(`SELECT total(state = 'open') AS open, total(amount) AS amount FROM disputes WHERE provider = 'stancer'`)
  t.same(card.disputes, { open: disputes.open, lost: 0, amountCents: disputes.amount }, 'the dispute, open')
  const report = JSON.parse(one<{ report: string }>(`SELECT report FROM reconciliation_reports WHERE provider = 'stancer'`).report) as { clean: boolean; missingInLedger: unknown[]; missingAtProvider: unknown[]; amountDifferences: unknown[] }
  t.same(
    [card.clean, card.missingInLedger, card.missingAtProvider, card.amountDifferences],
    [report.clean, report.missingInLedger.length, report.missingAtProvider.length, report.amountDifferences.length],
    'the stored report',
  )
  t.match(card, { clean: true, missingInLedger: 0, missingAtProvider: 0, amountDifferences: 0, rerunBooked: 0, ledgerBalanced: true, disputes: { open: 1 } })
  t.ok(card.matched.payments >= DEMO_CARD_GUESTS && card.feesCents > 0)
  t.equal(demoProviderSound(card), true, 'sound: the exit code stays 0')
  // The open dispute's booking is all clearing:stancer holds once the provider paid out everything else.
  t.equal(accountBalance('clearing:stancer'), one<{ booked: number }>(`SELECT total(booked) AS booked FROM disputes WHERE provider = 'stancer' AND state = 'open'`).booked)
  db.close()
  t.ok(lines.some((l) => l.startsWith(`payout run ${run.id}: ${run.count} payouts`)), 'a line on the payout run')
  t.ok(lines.some((l) => l.startsWith(`bank statement: ${trip.payouts} payouts out, ${trip.returned} returned`)), 'a line on the bank round trip')
  t.ok(lines.some((l) => l.startsWith(`card side (stancer): ${DEMO_CARD_GUESTS} online top-ups, 1 refund to the card, 1 refused by the card's bank, 1 dispute open`) && l.includes(`${card.payouts} payout reconciled`)), 'a line on the card side')
})

t.test('an unknown reader kind is refused with a clear message', async (t) => {
  const { parseReaderKinds } = await import('./demo-readers.js')
  t.same(parseReaderKinds('serial,pcsc'), ['serial', 'pcsc'])
  t.throws(() => parseReaderKinds('serial,nfc'), /--readers takes a comma-separated list of serial, ble, pcsc/)
})
