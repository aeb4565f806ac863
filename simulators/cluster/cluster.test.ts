// `npm run cluster` for a few seconds: two gateway processes on one private
// PostgreSQL and one private Mosquitto, the demo's four tills selling through
// them. Nothing is lost or doubled, the books balance, both gateways answered
// sales, and nothing of the run is left in the temp folder.
import t from 'tap'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { clusterSound, clusterUnavailable, runCluster } from './cluster.js'

const unavailable = clusterUnavailable()

t.test('two gateways on PostgreSQL and Mosquitto book the demo fleet as one would', { skip: unavailable === undefined ? false : `${unavailable} (CI installs both)` }, async (t) => {
  const leftovers = () => readdirSync(tmpdir()).filter((name) => name.startsWith('wristpay-cluster-'))
  const before = new Set(leftovers())
  const lines: string[] = []
  const summary = await runCluster({ durationS: 3, kiosks: 4, guests: 12 }, (line) => lines.push(line))
  t.match(summary, { lost: 0, duplicates: 0, ledgerBalanced: true, invariantViolations: [], errors: 0 })
  t.ok((summary.accepted as number) > 0, 'sales were accepted')
  const cash = summary.cashByRegister as Record<string, { closed: boolean }>
  t.same(Object.values(cash).map((c) => c.closed), [true, true], 'both cash shifts closed on the books the script reads')

  const gateways = summary.gateways as Record<string, { alive: boolean; answered: number | null }>
  t.same(Object.keys(gateways).sort(), ['gateway-a', 'gateway-b'])
  for (const [name, g] of Object.entries(gateways)) {
    t.equal(g.alive, true, `${name} alive to the end`)
    t.ok((g.answered ?? 0) > 0, `${name} answered sales: the shared subscription split them`)
  }
  const ledger = summary.ledger as { accepted: number; rejected: number }
  t.equal(gateways['gateway-a']!.answered! + gateways['gateway-b']!.answered!, ledger.accepted + ledger.rejected, 'every booked transaction was answered by exactly one gateway')
  t.equal(clusterSound(summary), true, 'the exit code would be 0')
  t.ok(lines.some((l) => /^cluster: gateway-a http:\/\/127\.0\.0\.1:\d+, gateway-b http:\/\/127\.0\.0\.1:\d+/.test(l)), 'the run names both gateways')
  t.same(leftovers().filter((name) => !before.has(name)), [], 'the run removed its folder')
})

t.test('a summary with a lost sale, a dead gateway or unbalanced books is not sound', async (t) => {
  const sound = { lost: 0, duplicates: 0, ledgerBalanced: true, gateways: { a: { alive: true }, b: { alive: true } } }
  t.equal(clusterSound(sound), true)
  t.equal(clusterSound({ ...sound, lost: 1 }), false)
  t.equal(clusterSound({ ...sound, duplicates: 1 }), false)
  t.equal(clusterSound({ ...sound, ledgerBalanced: false }), false)
  t.equal(clusterSound({ ...sound, gateways: { a: { alive: true }, b: { alive: false } } }), false)
  t.equal(clusterSound({ ...sound, gateways: { a: { alive: true } } }), false)
})
