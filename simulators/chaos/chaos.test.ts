// The chaos run's short form for CI: the real gateway and two real kiosk
// daemons, each in its own process, through fault proxies; the gateway and a
// kiosk are killed with SIGKILL while cashiers sell, the network between
// kiosks and broker delays, throttles, goes half-open, swallows everything and
// is cut. Afterwards nothing is lost, nothing is booked twice, the books
// balance and the audit finds nothing. `npm run chaos` runs the long form.
import t from 'tap'
import { chaosPassed, clockOffsets, faultSchedule, longestSilence, runChaos } from './chaos-run.js'

t.test('a fault schedule is a function of its seed', async (t) => {
  const options = { minutes: 10, gatewayKills: 5, kioskKills: 5, kiosks: 3, seed: 42 }
  t.same(faultSchedule(options), faultSchedule(options), 'the same seed, the same schedule')
  t.notSame(faultSchedule(options), faultSchedule({ ...options, seed: 43 }), 'another seed, another schedule')
  const faults = faultSchedule(options)
  t.equal(faults.filter((f) => f.kind === 'kill-gateway').length, 5)
  t.equal(faults.filter((f) => f.kind === 'kill-kiosk').length, 5)
  t.ok(faults.every((f, i) => i === 0 || faults[i - 1]!.atMs <= f.atMs), 'in order of time')
  t.ok(faults.every((f) => f.atMs >= 0 && f.atMs <= 10 * 60_000), 'within the run')
  t.same(clockOffsets(3), [120_000, -600_000, 0], 'one kiosk fast, one slow')
})

t.test('the longest silence counts only while the gateway was up', async (t) => {
  const up = [
    { from: 0, to: 100 },
    { from: 1_000, to: 1_050 },
  ]
  t.equal(longestSilence(up, [10, 20, 90, 1_010]), 70, 'between two answers')
  // The 900 ms the gateway was down between the intervals do not count.
  t.equal(longestSilence(up, [10, 95, 1_010, 1_040]), 85)
  t.equal(longestSilence([{ from: 0, to: 500 }], []), 500, 'no answer at all: the whole time up')
})

t.test('chaos with real processes loses and doubles nothing', async (t) => {
  const lines: string[] = []
  const summary = await runChaos({
    minutes: 0.5,
    gatewayKills: 1,
    kioskKills: 1,
    kiosks: 2,
    proxyFaults: 5,
    seed: 16,
    log: (line) => lines.push(line),
  })
  // runChaos kills every process it started before it returns or throws.
  t.comment(JSON.stringify(summary))
  t.equal(summary.kills.gateway, 1, 'the gateway was killed')
  t.equal(summary.kills.kiosk, 1, 'a kiosk was killed')
  t.ok(summary.operations.accepted > 0, 'sales were booked')
  t.equal(summary.lost, 0, `nothing lost ${JSON.stringify(summary.examples)}`)
  t.equal(summary.doubled, 0, 'nothing doubled')
  t.equal(summary.disagreeing, 0, 'the kiosks agree with the ledger')
  t.ok(summary.drained, 'every outbox emptied')
  t.same(summary.auditFindings, [], 'the audit finds nothing')
  t.ok(summary.ledgerBalanced, 'the books balance')
  t.ok(chaosPassed(summary))
  if (!chaosPassed(summary)) t.comment(lines.join('\n'))
})
