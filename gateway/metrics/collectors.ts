// What turns the gateway's happenings and records into metric values: ingest's
// observations (IngestDeps.observe), the portal's login outcomes, and the
// debts list as the scrape reads it. The metrics themselves are defined in
// registry.ts; this module only feeds them.
import type { PortalLoginOutcome } from '../../portal-api/plugin.js'
import type { IngestObservation } from '../ingest.js'
import type { Ledger } from '../ledger/index.js'
import { createMetricsRegistry, type EventMetrics, type MetricsSources } from './registry.js'
import type { Registry } from 'prom-client'

type DebtRecord = ReturnType<Ledger['debts']>[number]

export interface GatewayMetrics {
  registry: Registry
  /** For IngestDeps.observe: counts answers, commits and drops. Never throws. */
  observeIngest(observation: IngestObservation): void
  /** For the portal API's observeLogin. */
  observePortalLogin(outcome: PortalLoginOutcome): void
}

const MS_PER_SECOND = 1000

export function ingestCollector(events: EventMetrics): (observation: IngestObservation) => void {
  return (o) => {
    switch (o.kind) {
      case 'answered':
        // A replay is the first answer again: counted once, when it was first decided.
        if (o.replay) {
          events.replays.inc({ result: o.status })
        } else {
          events.transactions.inc({ type: o.txType ?? 'unknown', result: o.status })
          if (o.status === 'rejected') events.refusals.inc({ reason: o.reason ?? 'unknown' })
        }
        events.answerDelaySeconds.observe(o.queuedMs / MS_PER_SECOND)
        return
      case 'committed':
        events.batchTransactions.observe(o.size)
        events.commitSeconds.observe(o.commitMs / MS_PER_SECOND)
        return
      case 'synced':
        events.syncWaitSeconds.observe(o.waitMs / MS_PER_SECOND)
        return
      case 'commit_failed':
        events.commitFailures.inc()
        return
      case 'dropped':
        events.dropped.inc()
        return
    }
  }
}

export function portalLoginCollector(events: EventMetrics): (outcome: PortalLoginOutcome) => void {
  return (outcome) => {
    if (outcome === 'success') events.portalLogins.inc()
    else events.portalLoginFailures.inc({ reason: outcome })
  }
}

/**
 * Wristbands in debt and what they owe: a wristband with several debts counts
 * once, with what its balance is below zero now (paid-back debts are not open).
 */
export function openDebtTotals(debts: readonly DebtRecord[]): { wristbands: number; cents: number } {
  const owed = new Map<string, number>()
  for (const debt of debts) if (debt.open) owed.set(debt.uid, -debt.balanceNow)
  let cents = 0
  for (const value of owed.values()) cents += value
  return { wristbands: owed.size, cents }
}

/** A gateway's metrics: its own registry with every metric, and the observers that feed it. */
export function createGatewayMetrics(sources: MetricsSources = {}): GatewayMetrics {
  const { registry, events } = createMetricsRegistry(sources)
  return { registry, observeIngest: ingestCollector(events), observePortalLogin: portalLoginCollector(events) }
}
