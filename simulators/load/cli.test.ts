import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLoadEvent, writeJsonPrivately } from './load-event.js'
import { parseLoadArgs } from './cli.js'

t.test('wristpay-sim load reads its options, with the defaults of the issue', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-load-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fleetFile = join(dir, 'fleet.json')
  writeJsonPrivately(fleetFile, createLoadEvent({ kiosks: 2, wristbands: 2 }).fleet)

  const defaults = parseLoadArgs(['--mqtt', 'mqtt://127.0.0.1:1883', '--fleet', fleetFile])
  t.same(defaults.ratesPerSec, [100, 500, 1000, 2000])
  t.equal(defaults.phaseMs, 10_000)
  t.equal(defaults.fundCents, 0, 'no top-ups unless asked')
  t.equal(defaults.capacity, undefined, 'no capacity search unless asked')
  t.equal(defaults.fleet.kiosks.length, 2)

  const given = parseLoadArgs(['--mqtt', 'mqtt://h:1', '--fleet', fleetFile, '--rates', '50, 75', '--seconds', '0.5', '--kiosks', '1', '--capacity', '--p99-ms', '20'])
  t.same(given.ratesPerSec, [50, 75])
  t.equal(given.phaseMs, 500)
  t.equal(given.kiosks, 1)
  t.same(given.capacity, { p99LimitMs: 20, maxPhases: 6, phaseMs: 5_000 })
  t.equal(given.saturate, undefined, 'no saturation phase unless asked')
  t.equal(parseLoadArgs(['--mqtt', 'mqtt://h:1', '--fleet', fleetFile, '--capacity', '--saturate']).saturate, true)

  t.throws(() => parseLoadArgs(['--fleet', fleetFile]), /--mqtt URL and --fleet FILE/)
  t.throws(() => parseLoadArgs(['--mqtt', 'mqtt://h:1', '--fleet', fleetFile, '--rates', '100,fast']), /--rates must be a positive number/)
  t.throws(() => parseLoadArgs(['--mqtt', 'mqtt://h:1', '--fleet', join(dir, 'missing.json')]), /ENOENT/)
})
