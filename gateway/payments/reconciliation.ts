// Provider payout reconciliation (README "Reading the reconciliation report"):
// what the payments provider paid out, item by item, against the ledger.
//
// A run has two phases:
// 1. Fetch: the provider's payouts (all, or from where the last run said to go
//    on), and each payout's payments, refunds and disputes. Nothing is written
//    while the provider is being asked: if it fails (timeout, 500, an answer
//    the client cannot trust) the run ends with a ProviderError, books nothing
//    and the previous report stays.
// 2. Match and book, without the provider: every payment to its online top-up
//    (order_id = our checkout id, then the amount), every refund to its card
//    refund part (the provider's refund id, then the amount), every dispute to
//    the dispute's row and booking (gateway/payments/disputes.ts). A paid payout
//    not booked before is booked in ONE SQLite transaction with its row and its
//    items: clearing:{provider} is credited with what the payout settled
//    (payments - refunds - disputes), the bank side (clearing:bank, where the
//    bank statement import sees money arrive) is debited with the net, and the
//    fees (+ their VAT) go to the fees account. Its ref
//    `provider-payout:{provider}:{payout id}` makes it exactly once.
//
// Signs, as everywhere in the ledger: a top-up takes its money from
// clearing:{provider} (negative: the provider holds it for us), refunds and
// disputes give it back. After a payout the items it settled leave
// clearing:{provider} at zero; what is left there is what the provider still
// holds (not yet paid out) or a dispute's open debt.
//
// The fees (with their VAT) go to an expense account, `expense:fees:{provider}`
// (migration 19 added the kind): its balance is minus what the provider kept.
//
// Money is integer cents; the provider's API uses integer cents too.
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import type { Ledger } from '../ledger/index.js'
import { LeaseLostError, type JobFence } from '../cluster-jobs.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { ProviderError } from './provider.js'
import { listAll, type StancerClient, type StancerDispute, type StancerPayment, type StancerPayout, type StancerRefund } from './stancer-client.js'

export type ReconciliationClient = Pick<StancerClient, 'listPayouts' | 'listPayoutPayments' | 'listPayoutRefunds' | 'listPayoutDisputes'>

export type ItemKind = 'payment' | 'refund' | 'dispute'

export interface PayoutLine {
  id: string
  date: string | null
  status: string
  currency: string
  /** Integer cents, as the provider's payout says them. */
  payments: { amount: number; count: number }
  refunds: { amount: number; count: number }
  disputes: { amount: number; count: number }
  fees: number
  feesVat: number
  /** payments - refunds - disputes - fees - feesVat. */
  net: number
  matched: { payments: number; refunds: number; disputes: number }
  /** 'booked' now, 'already' booked by an earlier run, 'not_paid' (the provider has not paid it yet: booked once it is), 'refused' (see differences). */
  booking: 'booked' | 'already' | 'not_paid' | 'refused'
}

export interface MatchedItem {
  kind: ItemKind
  id: string
  payoutId: string
  amount: number
  /** The ledger booking's ref. */
  ref: string
  /** A lost dispute whose booking the guest's balance did not cover: the rest is an open debt (cents). */
  openDebt?: number
}

export interface MissingInLedger {
  kind: ItemKind
  id: string
  payoutId: string
  amount: number
  /** unknown_order (no top-up of ours), topup_not_paid, unknown_refund, refund_refused_here, unknown_dispute, dispute_not_booked ... */
  reason: string
}

export interface MissingAtProvider {
  kind: 'topup' | 'refund'
  /** Our checkout id (a top-up) or the card refund part's id. */
  id: string
  /** The provider's id: the intent of a top-up, the refund of a part. */
  providerId: string | null
  uid: string
  amount: number
}

export interface AmountDifference {
  kind: ItemKind | 'payout'
  id: string
  payoutId: string
  /** What the provider says (cents), what the ledger has (cents); for a payout: its totals against its items. */
  provider: number
  ledger: number
  what: string
}

/** A dispute still open at the provider: in no payout yet, so listed apart (it does not make the report unclean). */
export interface OpenDispute {
  id: string
  /** The disputed top-up's wristband (null when the dispute's row has none). */
  wristband: string | null
  /** Integer cents: disputed, taken off the balance, and the rest the balance did not cover. */
  amountCents: number
  bookedCents: number
  openDebtCents: number
  /** When we first saw it (ms). */
  since: number
}

export interface ReconciliationReport {
  provider: string
  ranAt: number
  /** 'all' payouts, or 'since' the date the last run left off at. */
  mode: 'all' | 'since'
  since: string | null
  /** Where the next 'since' run lists from: the earliest payout not yet booked, else the newest booked. */
  resumeFrom: string | null
  payouts: PayoutLine[]
  matched: MatchedItem[]
  missingInLedger: MissingInLedger[]
  missingAtProvider: MissingAtProvider[]
  amountDifferences: AmountDifference[]
  /** Disputes open when the run ended (reports stored before this list existed lack it). Not a mismatch: `clean` ignores it. */
  openDisputes: OpenDispute[]
  /** Sums of what this run booked (cents). */
  booked: { payouts: number; net: number; fees: number }
  clean: boolean
}

export interface ReconciliationAlert {
  kind: 'provider_reconciliation'
  provider: string
  message: string
}

export interface ReconciliationDeps {
  /** The ledger's own connection: a payout's booking, row and items share one SQLite transaction. */
  db: SqlDatabase
  ledger: Pick<Ledger, 'ensureAccount' | 'bookExternal'>
  client: ReconciliationClient
  /** The provider's name: our top-ups' `provider`, the clearing account's ref. */
  provider: string
  /** The event's currency (ISO 4217); payouts in another are reported, never booked. */
  currency: string
  clock: Clock
  logger: Logger
  alert?: (alert: ReconciliationAlert) => void
  /** Pages of each list at most (a provider that never stops must not keep us looping). */
  maxPages?: number
}

export interface Reconciliation {
  /** One run; a ProviderError when the provider failed (nothing booked, the previous report stays). Runs do not overlap: a second call waits for the first's result. */
  run(options?: { mode?: 'all' | 'since'; fence?: JobFence }): Promise<ReconciliationReport>
  /** The latest stored report, or undefined before the first completed run. */
  latest(): ReconciliationReport | undefined
  /**
   * run() every intervalMs (unref'd timer, failures logged) until stop(), which waits for a run in progress.
   * With `fence` (the 'reconciliation' lease, several gateways: cluster-jobs.ts), each payout's booking and the
   * report are written only if it still holds, checked in their own transaction; a run that finds it lost ends there.
   */
  startPeriodic(intervalMs: number, options?: { fence?: JobFence }): { stop(): Promise<void> }
}

export const payoutRef = (provider: string, payoutId: string) => `provider-payout:${provider}:${payoutId}`
/** The expense account's ref: `expense:fees:{provider}`. */
export const FEES_ACCOUNT_REF = (provider: string) => `fees:${provider}`
/** Where the bank statement import sees money arrive (gateway/bank/import-jobs.ts). */
export const BANK_CLEARING_REF = 'bank'

interface FetchedPayout {
  payout: StancerPayout
  payments: StancerPayment[]
  refunds: StancerRefund[]
  disputes: StancerDispute[]
  /** The provider listed the payout but answered 404 for its items: reported, never booked. */
  unknown?: string
}

interface TopupRow {
  id: string
  provider_checkout_id: string | null
  uid: string
  amount: number
  status: string
  created_at: number
}

interface PartRow {
  id: string
  provider_refund_id: string | null
  uid: string
  amount: number
  state: string
  created_at: number
}

interface DisputeRow {
  id: string
  amount: number
  state: string
  booking_id: string | null
  debt: number
}

// Asked of the engine's own catalogue (SQLite's sqlite_master, PostgreSQL's to_regclass): the reconciliation runs on either.
const tableExists = (db: SqlDatabase, name: string) => dialectOf(db).tableExists(db, name)

export function createReconciliation(deps: ReconciliationDeps): Reconciliation {
  const { db, ledger, client, provider, clock, logger } = deps
  migrateGatewayDatabase(db)
  const maxPages = deps.maxPages ?? 100
  const currency = deps.currency.toLowerCase()
  const log = logger.child({ component: 'reconciliation', provider })

  const readReport = db.prepare<[string], { report: string }>(`SELECT report FROM reconciliation_reports WHERE provider = ?`)
  const writeReport = db.prepare(
    `INSERT INTO reconciliation_reports (provider, report, created_at) VALUES (?, ?, ?) ON CONFLICT(provider) DO UPDATE SET report = excluded.report, created_at = excluded.created_at`,
  )
  const payoutRow = db.prepare<[string, string], { id: string; net: number; fees: number; fees_vat: number }>(`SELECT id, net, fees, fees_vat FROM provider_payouts WHERE provider = ? AND id = ?`)
  const insertPayout = db.prepare(
    `INSERT INTO provider_payouts (provider, id, currency, status, date, payments, refunds, disputes, fees, fees_vat, net, booking_id, booked_at)
     VALUES (@provider, @id, @currency, @status, @date, @payments, @refunds, @disputes, @fees, @fees_vat, @net, @booking_id, @booked_at)`,
  )
  const insertItem = db.prepare(
    `INSERT INTO provider_payout_items (provider, kind, id, payout_id, amount, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  )
  const itemPayout = db.prepare<[string, string, string], { payout_id: string }>(`SELECT payout_id FROM provider_payout_items WHERE provider = ? AND kind = ? AND id = ?`)
  const topupById = db.prepare<[string, string], TopupRow>(
    `SELECT id, provider_checkout_id, uid, amount, status, created_at FROM online_topups WHERE provider = ? AND id = ?`,
  )
  const partByRefund = db.prepare<[string, string], PartRow>(
    `SELECT id, provider_refund_id, uid, amount, state, created_at FROM card_refund_parts WHERE provider = ? AND provider_refund_id = ?`,
  )
  const newestItemCreated = db.prepare<[string], { created: number | null }>(`SELECT max(created) AS created FROM provider_payout_items WHERE provider = ? AND kind IN ('payment', 'refund')`)
  const topupsOutsidePayouts = db.prepare<[string, number, string], TopupRow>(
    `SELECT t.id, t.provider_checkout_id, t.uid, t.amount, t.status, t.created_at FROM online_topups t
     WHERE t.provider = ? AND t.status = 'paid' AND t.created_at < ?
       AND NOT EXISTS (SELECT 1 FROM provider_payout_items i WHERE i.provider = ? AND i.kind = 'payment' AND i.id = t.id)
     ORDER BY t.created_at, t.id LIMIT 1000`,
  )
  const partsOutsidePayouts = db.prepare<[string, number, string], PartRow>(
    `SELECT p.id, p.provider_refund_id, p.uid, p.amount, p.state, p.created_at FROM card_refund_parts p
     WHERE p.provider = ? AND p.state IN ('sent', 'succeeded') AND p.created_at < ?
       AND NOT EXISTS (SELECT 1 FROM provider_payout_items i WHERE i.provider = ? AND i.kind = 'refund' AND i.id = p.provider_refund_id)
     ORDER BY p.created_at, p.id LIMIT 1000`,
  )

  function disputeRow(id: string): DisputeRow | undefined {
    // The disputes table comes with its own migration step; read it only where it exists.
    if (!tableExists(db, 'disputes')) return undefined
    return db.prepare<[string, string], DisputeRow>(`SELECT id, amount, state, booking_id, debt FROM disputes WHERE provider = ? AND id = ?`).get(provider, id)
  }

  /** The open disputes, oldest first: an operator reading only the report sees them (README "Reading the reconciliation report"). */
  function openDisputes(): OpenDispute[] {
    if (!tableExists(db, 'disputes')) return []
    return db
      .prepare<[string], { id: string; uid: string | null; amount: number; booked: number; debt: number; created_at: number }>(
        `SELECT id, uid, amount, booked, debt, created_at FROM disputes WHERE provider = ? AND state = 'open' ORDER BY created_at, id LIMIT 1000`,
      )
      .all(provider)
      .map((d) => ({ id: d.id, wristband: d.uid, amountCents: d.amount, bookedCents: d.booked, openDebtCents: d.debt, since: d.created_at }))
  }

  function latest(): ReconciliationReport | undefined {
    const row = readReport.get(provider)
    return row === undefined ? undefined : (JSON.parse(row.report) as ReconciliationReport)
  }

  async function fetchAll(since: string | null): Promise<FetchedPayout[]> {
    const list = (fetchPage: Parameters<typeof listAll>[0]) => listAll(fetchPage, { maxPages })
    const payouts = (await list((q) => client.listPayouts({ ...q, ...(since ? { created: since } : {}) }))) as StancerPayout[]
    const seen = new Set<string>()
    const fetched: FetchedPayout[] = []
    for (const payout of payouts) {
      if (seen.has(payout.id)) continue // a page boundary that moved: the same payout listed twice
      seen.add(payout.id)
      try {
        fetched.push({
          payout,
          payments: (await list((q) => client.listPayoutPayments(payout.id, q))) as StancerPayment[],
          refunds: (await list((q) => client.listPayoutRefunds(payout.id, q))) as StancerRefund[],
          disputes: (await list((q) => client.listPayoutDisputes(payout.id, q))) as StancerDispute[],
        })
      } catch (err) {
        // An id the provider lists but does not know is reported; any other failure ends the run.
        if (!(err instanceof ProviderError && err.providerStatus === 404)) throw err
        fetched.push({ payout, payments: [], refunds: [], disputes: [], unknown: err.message.slice(0, 200) })
      }
    }
    return fetched
  }

  /** Matches one payout's items; pushes into the report's lists; answers the matched counts and the items to record. */
  function matchPayout(f: FetchedPayout, report: ReconciliationReport) {
    const payoutId = f.payout.id
    const counts = { payments: 0, refunds: 0, disputes: 0 }
    const items: Array<{ kind: ItemKind; id: string; amount: number; created: number | null }> = []
    /** `key`: how the item is recorded (a top-up's payment by our checkout id); `shown`: the provider's id, for the report. */
    const inOtherPayout = (kind: ItemKind, key: string, shown = key) => {
      const other = itemPayout.get(provider, kind, key)?.payout_id
      if (other !== undefined && other !== payoutId) {
        report.amountDifferences.push({ kind, id: shown, payoutId, provider: 0, ledger: 0, what: `also in payout ${other}` })
        return true
      }
      return false
    }

    for (const p of f.payments) {
      // A payment is recorded under our checkout id (its order_id) when it is ours, else under its own id.
      const topup = p.order_id === null ? undefined : topupById.get(provider, p.order_id)
      items.push({ kind: 'payment', id: topup?.id ?? p.id, amount: p.amount, created: p.created })
      if (topup !== undefined && inOtherPayout('payment', topup.id, p.id)) continue
      if (topup === undefined) {
        report.missingInLedger.push({ kind: 'payment', id: p.id, payoutId, amount: p.amount, reason: 'unknown_order' })
      } else if (topup.status !== 'paid') {
        report.missingInLedger.push({ kind: 'payment', id: p.id, payoutId, amount: p.amount, reason: 'topup_not_paid' })
      } else if (topup.amount !== p.amount || p.currency !== currency) {
        report.amountDifferences.push({ kind: 'payment', id: p.id, payoutId, provider: p.amount, ledger: topup.amount, what: p.currency !== currency ? `currency ${p.currency}` : `top-up ${topup.id}` })
      } else {
        counts.payments += 1
        report.matched.push({ kind: 'payment', id: p.id, payoutId, amount: p.amount, ref: `${provider}:${topup.provider_checkout_id}` })
      }
    }
    for (const r of f.refunds) {
      items.push({ kind: 'refund', id: r.id, amount: r.amount, created: r.created })
      if (inOtherPayout('refund', r.id)) continue
      const part = partByRefund.get(provider, r.id)
      if (part === undefined) {
        report.missingInLedger.push({ kind: 'refund', id: r.id, payoutId, amount: r.amount, reason: 'unknown_refund' })
      } else if (part.state === 'refused') {
        // We booked its money back onto the wristband, yet the provider paid it: the ledger lacks it.
        report.missingInLedger.push({ kind: 'refund', id: r.id, payoutId, amount: r.amount, reason: 'refund_refused_here' })
      } else if (part.amount !== r.amount || r.currency !== currency) {
        report.amountDifferences.push({ kind: 'refund', id: r.id, payoutId, provider: r.amount, ledger: part.amount, what: r.currency !== currency ? `currency ${r.currency}` : `refund part ${part.id}` })
      } else {
        counts.refunds += 1
        report.matched.push({ kind: 'refund', id: r.id, payoutId, amount: r.amount, ref: `card-refund:${part.id}` })
      }
    }
    for (const d of f.disputes) {
      items.push({ kind: 'dispute', id: d.id, amount: d.amount, created: d.created })
      if (inOtherPayout('dispute', d.id)) continue
      const row = disputeRow(d.id)
      if (row === undefined) {
        report.missingInLedger.push({ kind: 'dispute', id: d.id, payoutId, amount: d.amount, reason: 'unknown_dispute' })
      } else if (row.booking_id === null || row.state === 'won' || row.state === 'unmatched') {
        // Taken from the payout, yet not (or no longer) booked here: a won dispute's reversal, or one that matched no top-up.
        report.missingInLedger.push({ kind: 'dispute', id: d.id, payoutId, amount: d.amount, reason: `dispute_${row.state}_here` })
      } else if (row.amount !== d.amount) {
        report.amountDifferences.push({ kind: 'dispute', id: d.id, payoutId, provider: d.amount, ledger: row.amount, what: 'dispute' })
      } else {
        counts.disputes += 1
        report.matched.push({ kind: 'dispute', id: d.id, payoutId, amount: d.amount, ref: `dispute:${provider}:${d.id}`, ...(row.debt > 0 ? { openDebt: row.debt } : {}) })
      }
    }
    // The payout's totals against the items it listed.
    const totals: Array<[string, { amount: number; count: number }, Array<{ amount: number }>]> = [
      ['payments', f.payout.payments, f.payments],
      ['refunds', f.payout.refunds, f.refunds],
      ['disputes', f.payout.disputes, f.disputes],
    ]
    for (const [what, total, listed] of totals) {
      const sum = listed.reduce((s, x) => s + x.amount, 0)
      if (sum !== total.amount || listed.length !== total.count) {
        report.amountDifferences.push({ kind: 'payout', id: payoutId, payoutId, provider: total.amount, ledger: sum, what: `${what}: the payout says ${total.count}, it lists ${listed.length}` })
      }
    }
    return { counts, items }
  }

  /** Books a paid payout with its row and items: one SQLite transaction. */
  const bookPayout = db.transaction((f: FetchedPayout, net: number, items: Array<{ kind: ItemKind; id: string; amount: number; created: number | null }>, fence: JobFence | undefined) => {
    if (fence !== undefined && !fence(db)) throw new LeaseLostError('the provider payout reconciliation')
    const p = f.payout
    const settled = p.payments.amount - p.refunds.amount - p.disputes.amount
    const fees = p.fees + p.fees_vat
    const postings = [
      { account: ledger.ensureAccount('clearing', provider), amount: settled },
      { account: ledger.ensureAccount('clearing', BANK_CLEARING_REF), amount: -net },
      { account: ledger.ensureAccount('expense', FEES_ACCOUNT_REF(provider)), amount: -fees },
    ].filter((posting) => posting.amount !== 0)
    const booking =
      postings.length === 0
        ? undefined
        : ledger.bookExternal({
            ref: payoutRef(provider, p.id),
            kind: 'payout',
            postings,
            meta: { provider, payout: p.id, date: p.date, fees: p.fees, feesVat: p.fees_vat, net },
          })
    insertPayout.run({
      provider,
      id: p.id,
      currency: p.currency,
      status: p.status,
      date: p.date,
      payments: p.payments.amount,
      refunds: p.refunds.amount,
      disputes: p.disputes.amount,
      fees: p.fees,
      fees_vat: p.fees_vat,
      net,
      booking_id: booking?.id ?? null,
      booked_at: clock.now(),
    })
    for (const item of items) insertItem.run(provider, item.kind, item.id, p.id, item.amount, item.created)
  })

  /** The report, stored in a transaction of its own when a fence says whether this gateway may still write it. */
  const storeReport = db.transaction((report: ReconciliationReport, fence: JobFence | undefined) => {
    if (fence !== undefined && !fence(db)) throw new LeaseLostError('the provider payout reconciliation')
    writeReport.run(provider, JSON.stringify(report), report.ranAt)
  })

  async function runOnce(mode: 'all' | 'since', fence?: JobFence): Promise<ReconciliationReport> {
    const since = mode === 'since' ? (latest()?.resumeFrom ?? null) : null
    // Phase 1: the provider. A failure here ends the run before anything is written.
    const fetched = await fetchAll(since === null ? null : `${since}T00:00:00Z`)

    // Phase 2: match and book, without awaiting anything.
    const report: ReconciliationReport = {
      provider,
      ranAt: clock.now(),
      mode,
      since,
      resumeFrom: null,
      payouts: [],
      matched: [],
      missingInLedger: [],
      missingAtProvider: [],
      amountDifferences: [],
      openDisputes: [],
      booked: { payouts: 0, net: 0, fees: 0 },
      clean: true,
    }
    let earliestUnbooked: string | null = null
    let newestBooked: string | null = null
    for (const f of fetched) {
      const p = f.payout
      const net = p.payments.amount - p.refunds.amount - p.disputes.amount - p.fees - p.fees_vat
      const { counts, items } = f.unknown === undefined ? matchPayout(f, report) : { counts: { payments: 0, refunds: 0, disputes: 0 }, items: [] }
      let booking: PayoutLine['booking']
      const bookedBefore = payoutRow.get(provider, p.id)
      if (f.unknown !== undefined) {
        booking = 'refused'
        report.amountDifferences.push({ kind: 'payout', id: p.id, payoutId: p.id, provider: net, ledger: 0, what: `its items cannot be read (${f.unknown}): not booked` })
      } else if (bookedBefore !== undefined) {
        booking = 'already'
        // The provider now says other amounts than those we booked: what was booked stays, an operator looks.
        if (bookedBefore.net !== net || bookedBefore.fees + bookedBefore.fees_vat !== p.fees + p.fees_vat) {
          report.amountDifferences.push({ kind: 'payout', id: p.id, payoutId: p.id, provider: net, ledger: bookedBefore.net, what: 'the payout changed after it was booked (net, or fees)' })
        }
      }      else if (p.status !== 'paid') booking = 'not_paid'
      else if (p.currency !== currency) {
        booking = 'refused'
        report.amountDifferences.push({ kind: 'payout', id: p.id, payoutId: p.id, provider: net, ledger: 0, what: `currency ${p.currency}, the event's is ${currency}: not booked` })
      } else {
        try {
          bookPayout(f, net, items, fence)
          booking = 'booked'
          report.booked.payouts += 1
          report.booked.net += net
          report.booked.fees += p.fees + p.fees_vat
        } catch (err) {
          if (err instanceof LeaseLostError) throw err
          // A payout the ledger refuses (amounts beyond its bounds ...): reported, the rest goes on.
          log.error({ err, payout: p.id }, 'provider payout not booked')
          booking = 'refused'
          report.amountDifferences.push({ kind: 'payout', id: p.id, payoutId: p.id, provider: net, ledger: 0, what: `not booked: ${(err as Error).message.slice(0, 200)}` })
        }
      }
      if (booking === 'booked' || booking === 'already') {
        if (p.date !== null && (newestBooked === null || p.date > newestBooked)) newestBooked = p.date
      } else if (p.date !== null && (earliestUnbooked === null || p.date < earliestUnbooked)) earliestUnbooked = p.date
      report.payouts.push({
        id: p.id,
        date: p.date,
        status: p.status,
        currency: p.currency,
        payments: p.payments,
        refunds: p.refunds,
        disputes: p.disputes,
        fees: p.fees,
        feesVat: p.fees_vat,
        net,
        matched: counts,
        booking,
      })
    }
    const validDate = (d: string | null) => (d !== null && /^\d{4}-\d{2}-\d{2}$/.test(d) ? d : null)
    report.resumeFrom = validDate(earliestUnbooked) ?? validDate(newestBooked) ?? since

    // Missing at the provider: paid top-ups and sent refunds created before the newest item any payout holds, yet in no payout.
    const newest = newestItemCreated.get(provider)?.created
    if (newest !== null && newest !== undefined) {
      const cutoffMs = newest * 1000
      for (const t of topupsOutsidePayouts.all(provider, cutoffMs, provider)) {
        report.missingAtProvider.push({ kind: 'topup', id: t.id, providerId: t.provider_checkout_id, uid: t.uid, amount: t.amount })
      }
      for (const r of partsOutsidePayouts.all(provider, cutoffMs, provider)) {
        report.missingAtProvider.push({ kind: 'refund', id: r.id, providerId: r.provider_refund_id, uid: r.uid, amount: r.amount })
      }
    }
    // After the payouts: a dispute lost and taken from one is no longer open.
    report.openDisputes = openDisputes()
    report.clean = report.missingInLedger.length === 0 && report.missingAtProvider.length === 0 && report.amountDifferences.length === 0
    storeReport(report, fence)
    log.info({ payouts: report.payouts.length, booked: report.booked, matched: report.matched.length, openDisputes: report.openDisputes.length, clean: report.clean }, 'provider payouts reconciled')
    if (!report.clean) {
      deps.alert?.({
        kind: 'provider_reconciliation',
        provider,
        message: `${provider} payouts: ${report.missingInLedger.length} missing in the ledger, ${report.missingAtProvider.length} missing at the provider, ${report.amountDifferences.length} amount differences (GET /admin/reconciliation)`,
      })
    }
    return report
  }

  let inFlight: Promise<ReconciliationReport> | undefined
  function run(options: { mode?: 'all' | 'since'; fence?: JobFence } = {}): Promise<ReconciliationReport> {
    if (inFlight) return inFlight
    const p = runOnce(options.mode ?? 'all', options.fence).catch((err: unknown) => {
      if (err instanceof ProviderError || err instanceof RangeError) log.warn({ err }, 'provider payouts not reconciled: the provider failed; the previous report stays')
      throw err instanceof RangeError ? new ProviderError(`stancer answered something we cannot page through: ${err.message}`) : err
    })
    inFlight = p
    void p.then(
      () => (inFlight = undefined),
      () => (inFlight = undefined),
    )
    return p
  }

  return {
    run,
    latest,
    startPeriodic(intervalMs, options = {}) {
      let running: Promise<unknown> = Promise.resolve()
      const timer = setInterval(() => {
        running = run({ mode: 'since', ...(options.fence ? { fence: options.fence } : {}) }).catch((err: unknown) =>
          err instanceof LeaseLostError ? log.warn({ err }, 'periodic reconciliation stopped: the lease was lost') : log.error({ err }, 'periodic reconciliation failed'),
        )
      }, intervalMs)
      timer.unref()
      return {
        async stop() {
          clearInterval(timer)
          await running
        },
      }
    },
  }
}
