// The benchmark's portal-load scenario at a tiny scale: correctness only
// (every sale answered and booked once, the books balance, every guest is
// answered with their own data and nobody else's). Its rates and latencies
// are figures for `npm run bench`, never asserted here.
import t from 'tap'
import { portalLoadChecks, portalLoadReport, runPortalLoad, type PortalLoadRun, type PortalLoadSummary } from './portal-load.js'

const SALES_PER_SEC = 20
const GUESTS = 5
const PHASE_MS = 2000
const SALES_PER_PHASE = (SALES_PER_SEC * PHASE_MS) / 1000

t.test('sales with guests polling the portal: booked once, balanced, each guest sees only their own orders', async (t) => {
  let inspected = false
  const summary = await runPortalLoad({
    salesPerSec: SALES_PER_SEC,
    guests: GUESTS,
    kiosks: 2,
    phaseMs: PHASE_MS,
    pollIntervalMs: 200,
    inspect: ({ gateway, answeredSales, guests }: PortalLoadRun) => {
      inspected = true
      const { ledger } = gateway
      t.equal(answeredSales.length, 2 * SALES_PER_PHASE, 'every sale of both phases answered')
      t.equal(new Set(answeredSales.map((s) => s.id)).size, answeredSales.length, 'each answer is for another sale')
      for (const sale of answeredSales) {
        const booked = ledger.transaction(sale.id)
        if (sale.status !== 'accepted' || booked?.status !== 'accepted' || booked.tag !== sale.uid || booked.type !== 'sale') {
          t.fail(`sale ${sale.id} answered ${sale.status}, booked ${booked?.status ?? 'nowhere'}`)
        }
      }
      // One warm-up top-up per guest, then the sales: nothing else was booked, nothing twice.
      t.equal(ledger.stats().accepted, GUESTS + answeredSales.length, 'the ledger holds each top-up and sale once')
      t.equal(ledger.sumOfAllBalances(), 0, 'balances sum to zero')
      t.same(ledger.checkInvariants(), [], 'ledger invariants hold')

      t.equal(guests.length, GUESTS)
      const seen = new Map<string, string>()
      for (const guest of guests) {
        t.ok(guest.polls > 0, `guest ${guest.uid} polled`)
        t.equal(guest.okPolls, guest.polls, `every refresh of ${guest.uid} answered 200 with its own data`)
        t.equal(guest.foreignRecords, 0, `guest ${guest.uid} saw nobody else's records`)
        const own = ledger.customerOrders(guest.uid).map((o) => o.receiptId)
        t.same(guest.finalOrderIds, own, `guest ${guest.uid}'s last refresh lists exactly their orders`)
        const sales = answeredSales.filter((s) => s.uid === guest.uid).length
        t.equal(own.length, sales + 1, `guest ${guest.uid}: their sales and their top-up`)
        for (const id of guest.finalOrderIds ?? []) {
          if (seen.has(id)) t.fail(`order ${id} listed to ${guest.uid} and to ${seen.get(id)}`)
          seen.set(id, guest.uid)
        }
      }
    },
  })
  t.ok(inspected, 'the run was inspected before the gateway stopped')

  t.match(summary, {
    scenario: 'portal-load',
    targetSalesPerSec: SALES_PER_SEC,
    kiosks: 2,
    guests: GUESTS,
    pollIntervalMs: 200,
    phaseSeconds: PHASE_MS / 1000,
    portal: {
      logins: GUESTS,
      polls: Number,
      okPolls: Number,
      requests: Number,
      requestsPerSec: Number,
      latencyMs: { p50: Number, p95: Number, p99: Number, max: Number },
      statuses: Object,
      retriedAfterClose: Number,
      foreignRecords: 0,
      finalViewMismatches: 0,
    },
    ledger: { expectedAccepted: GUESTS + 2 * SALES_PER_PHASE, accepted: GUESTS + 2 * SALES_PER_PHASE, missing: 0, balanced: true, invariantViolations: 0 },
  })
  t.match(summary.portalAlone, { requests: Number, requestsPerSec: Number, latencyMs: { p50: Number, p95: Number, p99: Number, max: Number }, statuses: Object, retriedAfterClose: Number })
  for (const phase of [summary.baseline, summary.withPortal]) {
    t.match(phase, {
      offeredSalesPerSec: Number,
      achievedSalesPerSec: Number,
      sent: SALES_PER_PHASE,
      answered: SALES_PER_PHASE,
      answeredLate: Number,
      accepted: SALES_PER_PHASE,
      refused: 0,
      unanswered: 0,
      latencyMs: { p50: Number, p95: Number, p99: Number, max: Number },
      maxSendLagMs: Number,
      eventLoopDelayMs: { p50: Number, p99: Number, max: Number },
      cpuPercent: Number,
    })
  }
  t.ok(summary.portal.polls > 0 && summary.portal.okPolls === summary.portal.polls, 'every refresh answered with the guest\'s own data')
  t.equal(summary.portalAlone.requests + summary.portal.requests, 2 * summary.portal.polls, 'a refresh asks for the customer and the orders')
  t.same(summary.portalAlone.statuses, { 200: summary.portalAlone.requests }, 'every portal request answered 200 with no sales running')
  t.same(summary.portal.statuses, { 200: summary.portal.requests }, 'every portal request answered 200 while the sales run')
  for (const check of summary.checks.filter((c) => c.kind === 'correctness')) t.ok(check.pass, `${check.name}: ${check.detail}`)
  const report = portalLoadReport(summary)
  t.equal(report.filter((line) => /^(PASS|FAIL) /.test(line)).length, summary.checks.length, 'one PASS/FAIL line per check')
})

t.test('the checks fail on lost sales, foreign data and rates below the baseline', async (t) => {
  const phase = {
    offeredSalesPerSec: 500,
    achievedSalesPerSec: 500,
    sent: 100,
    answered: 100,
    answeredLate: 0,
    accepted: 100,
    refused: 0,
    unanswered: 0,
    latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 },
    maxSendLagMs: 1,
    eventLoopDelayMs: { p50: 1, p99: 2, max: 3 },
    cpuPercent: 50,
  }
  const good: Omit<PortalLoadSummary, 'checks'> = {
    scenario: 'portal-load',
    targetSalesPerSec: 500,
    kiosks: 2,
    guests: 2,
    pollIntervalMs: 1000,
    phaseSeconds: 1,
    baseline: phase,
    withPortal: phase,
    portalAlone: { requests: 8, requestsPerSec: 8, latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 }, statuses: { 200: 8 }, retriedAfterClose: 0 },
    portal: { logins: 2, polls: 4, okPolls: 4, requests: 8, requestsPerSec: 8, latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 }, statuses: { 200: 8 }, retriedAfterClose: 0, foreignRecords: 0, finalViewMismatches: 0 },
    ledger: { expectedAccepted: 202, accepted: 202, missing: 0, balanced: true, invariantViolations: 0 },
  }
  const failed = (s: Omit<PortalLoadSummary, 'checks'>) => portalLoadChecks(s).filter((c) => !c.pass).map((c) => c.name)
  t.same(failed(good), [], 'all pass when all is well')
  t.same(failed({ ...good, withPortal: { ...phase, answered: 99, accepted: 99, unanswered: 1 } }), ['every sale answered and booked once'])
  t.same(failed({ ...good, ledger: { ...good.ledger, accepted: 203 } }), ['every sale answered and booked once'], 'a sale booked twice')
  t.same(failed({ ...good, ledger: { ...good.ledger, balanced: false } }), ['ledger balanced'])
  t.same(failed({ ...good, portal: { ...good.portal, foreignRecords: 1 } }), ["every portal request answered 200 with the guest's own data"])
  t.same(failed({ ...good, portal: { ...good.portal, statuses: { 200: 7, ECONNRESET: 1 } } }), ["every portal request answered 200 with the guest's own data"])
  t.same(
    failed({ ...good, baseline: { ...phase, achievedSalesPerSec: 400 }, withPortal: { ...phase, achievedSalesPerSec: 300 } }),
    ['baseline reaches 95% of the offered rate', "under portal load ingest keeps 95% of the baseline's rate"],
  )
  t.same(failed({ ...good, portal: { ...good.portal, latencyMs: { p50: 1, p95: 2, p99: 1001, max: 1002 } } }), ['portal p99 within the poll interval'])
  t.same(failed({ ...good, portal: { ...good.portal, requestsPerSec: 7 } }), ['with the sales the portal keeps 90% of its request rate alone'])
  t.same(failed({ ...good, portalAlone: { ...good.portalAlone, statuses: { 200: 7, 503: 1 } } }), ["every portal request answered 200 with the guest's own data"], 'refusals with no sales running count too')
})
