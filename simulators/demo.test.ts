// The demo is the first thing a new user runs: it must book sales and
// top-ups from several kiosks, lose and double nothing, and keep the ledger
// balanced.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runDemo } from './demo.js'

t.test('a short demo run with serial and BLE readers books sales and top-ups at three kiosks and loses nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wristpay-demo-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const lines: string[] = []
  const summary = await runDemo({ durationS: 4, kiosks: 3, guests: 10, readers: ['serial', 'ble'], mqttPort: 0, httpPort: 0, dataDir }, (line) => lines.push(line))
  t.match(summary, { lost: 0, duplicates: 0, ledgerBalanced: true, errors: 0 })
  t.ok((summary.accepted as number) > 0, 'sales were accepted')
  const cash = summary.cashByKiosk as Record<string, number>
  const revenue = summary.revenueByBooth as Record<string, number>
  t.ok((cash['topup-1'] ?? 0) > 0, 'the top-up station took cash')
  t.ok((revenue.bar ?? 0) + (revenue.food ?? 0) > 0, 'the booths earned revenue')
  t.equal(summary.customerBalances, (cash['topup-1'] ?? 0) - (revenue.bar ?? 0) - (revenue.food ?? 0), 'guest money = cash in - sales')
  t.ok(lines.some((l) => /bar-1 \(serial reader\), food-1 \(ble reader\), topup-1 \(serial reader\)/.test(l)), 'the kiosks got the reader kinds asked for, in turn')
  t.ok(lines.some((l) => /tx\/s .* accepted \d+ .* latency p50 .* outbox \d+ .* kiosks online 3\/3/.test(l)), 'a status line was printed')
})

t.test('an unknown reader kind is refused with a clear message', async (t) => {
  const { parseReaderKinds } = await import('./demo-readers.js')
  t.same(parseReaderKinds('serial,pcsc'), ['serial', 'pcsc'])
  t.throws(() => parseReaderKinds('serial,nfc'), /--readers takes a comma-separated list of serial, ble, pcsc/)
})
