// The demo is the first thing a new user runs: it must book sales, top-ups,
// tickets and cash shifts from several kiosks, lose and double nothing, and
// keep the ledger balanced.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runDemo } from './demo.js'

t.test('a short demo run: booths sell, the top-up station and the cash desk run cash shifts, nothing is lost', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wristpay-demo-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const lines: string[] = []
  const summary = await runDemo({ durationS: 5, kiosks: 4, guests: 12, readers: ['serial', 'ble'], mqttPort: 0, httpPort: 0, dataDir }, (line) => lines.push(line))
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
})

t.test('an unknown reader kind is refused with a clear message', async (t) => {
  const { parseReaderKinds } = await import('./demo-readers.js')
  t.same(parseReaderKinds('serial,pcsc'), ['serial', 'pcsc'])
  t.throws(() => parseReaderKinds('serial,nfc'), /--readers takes a comma-separated list of serial, ble, pcsc/)
})
