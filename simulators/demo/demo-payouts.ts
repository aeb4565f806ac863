// A whole payout cycle against a running gateway, over its real HTTP APIs, as
// the guests and the finance team would run it after the event: guests enter
// their bank account (or donate) on the portal; operator A creates a payout
// run, A's own approval is refused, operator B approves, the run is exported as
// pain.001.001.09; the simulated bank executes it and sends back a CAMT.053
// statement with a seeded share of returned transfers and the bank top-ups of
// the period; the statement goes in as a bank import job, exactly as
// `wristpay-gateway bank import FILE` sends it; then the same statement again,
// which must book nothing. The demo (demo.ts) and the end-to-end test
// (simulators/e2e/payout-cycle.test.ts) share it.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { composeIBAN, isValidIBAN } from 'ibantools'
import { centsFromDecimalString, decimalStringFromCents } from '../../device-protocol/money.js'
import { jobTransactionsOf, readStatementFile, submitStatementJob, httpTransport, type JobResult } from '../../gateway/bank/statements/import-command.js'
import type { Ledger } from '../../gateway/ledger/index.js'
import type { PayoutRun } from '../../gateway/payouts/payout-runs.js'
import { OPERATOR_HEADER } from '../../gateway/payouts/payouts-admin.js'
import { bankStatementFromPain, type IncomingCredit, type SimulatedStatement } from '../bank-sim/camt053.js'

/** A made-up German IBAN with valid check digits (bank code 37040044, account `n`): never a real customer's. */
export function demoIban(n: number): string {
  const iban = composeIBAN({ countryCode: 'DE', bban: `37040044${String(n).padStart(10, '0')}` })
  if (iban === null || !isValidIBAN(iban)) throw new Error(`no IBAN for account ${n}`)
  return iban
}

export interface HttpAnswer<T = any> {
  status: number
  body: T
}

async function call<T = any>(base: string, method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: unknown): Promise<HttpAnswer<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await response.text()
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
}

/** A guest logged in to the portal API (as the portal page does it): one login, then the session token. */
export interface PortalGuest {
  uid: string
  get<T = any>(path: string): Promise<HttpAnswer<T>>
  post<T = any>(path: string, body?: unknown): Promise<HttpAnswer<T>>
}

export async function portalLogin(base: string, pin: string, prefix = '/api'): Promise<PortalGuest> {
  const login = await call(base, 'POST', `${prefix}/auth/login`, {}, { pin })
  if (login.status !== 200) throw new Error(`portal login refused (${login.status}): ${JSON.stringify(login.body)}`)
  const auth = { authorization: `Bearer ${login.body.access_token as string}` }
  return {
    uid: String(login.body.customer.user_tag_uid_hex),
    get: (path) => call(base, 'GET', `${prefix}${path}`, auth),
    post: (path, body) => call(base, 'POST', `${prefix}${path}`, auth, body),
  }
}

/** What a guest enters on the portal's payout form: their account and an optional partial donation; or "donate everything". */
export type PayoutData = { iban: string; accountName: string; email: string; donationCents?: number } | 'donate_all'

/** Registers the guest's payout data as the portal page does (POST /customer_info or /customer_all_donation). */
export async function registerPayoutData(guest: PortalGuest, data: PayoutData): Promise<void> {
  const answer =
    data === 'donate_all'
      ? await guest.post('/customer_all_donation')
      : await guest.post('/customer_info', { iban: data.iban, account_name: data.accountName, email: data.email, donation: (data.donationCents ?? 0) / 100 })
  if (answer.status !== 204) throw new Error(`the portal refused the payout data of ${guest.uid} (${answer.status}): ${JSON.stringify(answer.body)}`)
}

export interface Operator {
  name: string
  token: string
}

/** A bank top-up a guest sends during the period of the statement, with the transfer reference their portal page shows. */
export interface BankTopup {
  guest: PortalGuest
  amountCents: number
  payer: string
  iban: string
}

export type PayoutCycleStep = 'created' | 'creator_refused' | 'approved' | 'exported' | 'imported' | 'reimported'

export interface PayoutCycleOptions {
  baseUrl: string
  adminToken: string
  /** The operator who creates and exports the run. */
  creator: Operator
  /** The second pair of eyes. */
  approver: Operator
  /** The bank import jobs API's organizer slug (slugOfEventName of the event). */
  organizer: string
  /** Where the pain.001 and the statement are written. */
  dir: string
  /** Share of the transfers the simulated bank returns, and its seed. */
  returnShare: number
  seed: number
  topups?: readonly BankTopup[]
  /** Called after every step that may move money, for the caller's checks. */
  afterStep?: (step: PayoutCycleStep, cycle: Partial<PayoutCycle>) => void | Promise<void>
}

export interface PayoutCycle {
  created: PayoutRun
  /** The answer to the creator's own approval (403 approver_is_creator). */
  creatorApproval: HttpAnswer
  approved: PayoutRun
  exported: PayoutRun
  painPath: string
  statement: SimulatedStatement
  statementPath: string
  /** The transfer references the guests' portal pages showed, by uid. */
  topupReferences: Record<string, string>
  job: JobResult
  reimport: JobResult
}

export class PayoutCycleError extends Error {
  override name = 'PayoutCycleError'
}

/** Runs the cycle; throws PayoutCycleError when a step answers other than it should. */
export async function runPayoutCycle(options: PayoutCycleOptions): Promise<PayoutCycle> {
  const { baseUrl, adminToken, creator, approver, dir } = options
  const cycle: Partial<PayoutCycle> = {}
  const step = async (name: PayoutCycleStep) => options.afterStep?.(name, cycle)
  const admin = (operator: Operator, path: string, body?: unknown) =>
    call(baseUrl, 'POST', `/admin${path}`, { authorization: `Bearer ${adminToken}`, [OPERATOR_HEADER]: `${operator.name}:${operator.token}` }, body)
  const expect = (answer: HttpAnswer, status: number, what: string) => {
    if (answer.status !== status) throw new PayoutCycleError(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`)
    return answer.body
  }

  const created = expect(await admin(creator, '/payout-runs', {}), 201, 'create the payout run') as PayoutRun
  cycle.created = created
  await step('created')
  cycle.creatorApproval = await admin(creator, `/payout-runs/${created.id}/approve`)
  if (cycle.creatorApproval.status !== 403 || cycle.creatorApproval.body?.type !== 'approver_is_creator')
    throw new PayoutCycleError(`the creator's own approval was not refused: ${cycle.creatorApproval.status}`)
  await step('creator_refused')
  cycle.approved = expect(await admin(approver, `/payout-runs/${created.id}/approve`), 200, 'approve the run') as PayoutRun
  await step('approved')
  const exported = expect(await admin(creator, `/payout-runs/${created.id}/export`), 200, 'export the run') as { run: PayoutRun; replay: boolean; files?: Record<string, string>; filesError?: string }
  cycle.exported = exported.run
  const painName = Object.keys(exported.files ?? {}).find((name) => name.endsWith('.pain.001.001.09.xml'))
  if (painName === undefined) throw new PayoutCycleError(`the export wrote no pain.001.001.09 file${exported.filesError ? `: ${exported.filesError}` : ' (is portal.bankAccount set?)'}`)
  cycle.painPath = join(dir, painName)
  writeFileSync(cycle.painPath, exported.files![painName]!, { mode: 0o600 })
  await step('exported')

  // The guests' bank top-ups carry the reference their portal page shows them.
  const credits: IncomingCredit[] = []
  cycle.topupReferences = {}
  for (const topup of options.topups ?? []) {
    const shown = expect(await topup.guest.get('/bank_transfer'), 200, `the transfer reference of ${topup.guest.uid}`) as { reference_display: string }
    cycle.topupReferences[topup.guest.uid] = shown.reference_display
    credits.push({ amountCents: topup.amountCents, payer: topup.payer, iban: topup.iban, reference: `Festival top-up ${shown.reference_display}` })
  }
  // The simulated bank executes the order and sends the statement, returns and top-ups in it.
  cycle.statement = bankStatementFromPain(exported.files![painName]!, { returnShare: options.returnShare, seed: options.seed, credits })
  cycle.statementPath = join(dir, `statement-run-${created.id}.camt053.xml`)
  writeFileSync(cycle.statementPath, cycle.statement.xml, { mode: 0o600 })

  // What `wristpay-gateway bank import FILE` does: read the file, send it as a job, wait for it.
  const importStatement = async (): Promise<JobResult> => {
    const transactions = jobTransactionsOf(readStatementFile(cycle.statementPath!, {}))
    const { job, finished } = await submitStatementJob({ transport: httpTransport(baseUrl, adminToken), organizer: options.organizer, transactions, waitMs: 60_000, pollMs: 20 })
    if (!finished || job.state !== 'completed') throw new PayoutCycleError(`bank import job ${job.id} ended ${job.state}`)
    return job
  }
  cycle.job = await importStatement()
  await step('imported')
  cycle.reimport = await importStatement()
  await step('reimported')
  return cycle as PayoutCycle
}

export interface PayoutRunSummary {
  id: number
  count: number
  sumCents: number
  donationsCents: number
  createdBy: string
  approvedBy: string | null
  creatorApprovalRefused: boolean
  exported: boolean
  file: string
}

export interface BankRoundTripSummary {
  /** Transfers the bank booked out (the statement's debits). */
  payouts: number
  /** Of them, debits the import recognised as our exported payouts (by end-to-end id and amount). */
  payoutsConfirmed: number
  /** Of them, returned by the guests' banks, and their sum. */
  returned: number
  returnedCents: number
  /** Bank top-ups booked to wristbands, and their sum. */
  topups: number
  topupCents: number
  /** The statement's entries and what the import made of them. */
  entries: number
  states: Record<string, number>
  /** The same statement imported again: entries found `already`, and entries that booked anything. */
  reimportAlready: number
  reimportBooked: number
  /** The ledger after the round trip: every booking balanced, all balances sum to zero, every touched guest holds what they should. */
  ledgerBalanced: boolean
}

const sumCents = (txs: JobResult['transactions']) => txs.reduce((sum, tx) => sum + (centsFromDecimalString(tx.amount, Number.MAX_SAFE_INTEGER) ?? Number.NaN), 0)
const countStates = (job: JobResult) => job.transactions.reduce<Record<string, number>>((counts, tx) => ({ ...counts, [tx.state]: (counts[tx.state] ?? 0) + 1 }), {})

/** The two summary parts of a cycle; `ledgerBalanced` is what the caller found checking the ledger. */
export function summarisePayoutCycle(cycle: PayoutCycle, ledgerBalanced: boolean): { payoutRun: PayoutRunSummary; bankRoundTrip: BankRoundTripSummary } {
  const run = cycle.exported
  const returnedIds = new Set(cycle.statement.returned.map((r) => r.endToEndId))
  const debits = cycle.job.transactions.filter((tx) => tx.amount.startsWith('-'))
  // Debits are our payouts leaving the account (confirmed, nothing booked); the credits booked are returns and top-ups.
  const booked = cycle.job.transactions.filter((tx) => tx.state === 'valid' && !tx.amount.startsWith('-'))
  const topups = booked.filter((tx) => tx.order !== null && !returnedIds.has(tx.order))
  const returned = booked.filter((tx) => tx.order !== null && returnedIds.has(tx.order))
  const states = countStates(cycle.job)
  const again = countStates(cycle.reimport)
  return {
    payoutRun: {
      id: run.id,
      count: run.payoutCount,
      sumCents: run.payoutSum,
      donationsCents: run.donationSum,
      createdBy: run.createdBy,
      approvedBy: run.approvedBy,
      creatorApprovalRefused: cycle.creatorApproval.status === 403,
      exported: run.state === 'exported',
      file: cycle.painPath,
    },
    bankRoundTrip: {
      payouts: debits.length,
      payoutsConfirmed: debits.filter((tx) => tx.state === 'valid').length,
      returned: returned.length,
      returnedCents: sumCents(returned),
      topups: topups.length,
      topupCents: sumCents(topups),
      entries: cycle.job.transactions.length,
      states,
      reimportAlready: again.already ?? 0,
      reimportBooked: again.valid ?? 0,
      ledgerBalanced,
    },
  }
}

/** The demo's bank: a quarter of the payouts come back, chosen by this seed; one guest tops up by bank transfer. */
export const DEMO_RETURN_SHARE = 0.25
export const DEMO_BANK_SEED = 13
export const DEMO_BANK_TOPUP_CENTS = 2_000
/** The portal allows 10 logins a minute from one address: the demo's guests stay below that. */
const MAX_DEMO_REGISTRATIONS = 6

export interface DemoPayoutsOptions {
  baseUrl: string
  adminToken: string
  creator: Operator
  approver: Operator
  organizer: string
  dir: string
  /** The pre-sale guests (they know their PIN). */
  wristbands: ReadonlyArray<{ uid: string; pin: string }>
  ledger: Pick<Ledger, 'balanceOf' | 'checkInvariants' | 'sumOfAllBalances'>
  currency: string
}

export interface DemoPayouts {
  payoutRun: PayoutRunSummary | { count: 0; exported: false; skipped: string }
  bankRoundTrip?: BankRoundTripSummary
  /** One human line for each. */
  lines: string[]
}

/**
 * Whether the demo's payout cycle went as it must: the run exported with four
 * eyes, a debit per payout, the seeded share returned, the top-up booked, the
 * ledger balanced with every touched guest right, and the second import of the
 * statement booking nothing. A demo whose guests hold no money has no cycle to judge.
 */
export function demoPayoutsSound(payoutRun: DemoPayouts['payoutRun'], trip: BankRoundTripSummary | undefined): boolean {
  if ('skipped' in payoutRun) return trip === undefined
  return (
    trip !== undefined &&
    payoutRun.exported &&
    payoutRun.creatorApprovalRefused &&
    trip.ledgerBalanced &&
    trip.payouts === payoutRun.count &&
    trip.payoutsConfirmed === trip.payouts &&
    trip.returned === Math.round(DEMO_RETURN_SHARE * payoutRun.count) &&
    trip.topups === 1 &&
    trip.topupCents === DEMO_BANK_TOPUP_CENTS &&
    trip.entries === trip.payouts + trip.returned + trip.topups &&
    trip.reimportAlready === trip.entries &&
    trip.reimportBooked === 0
  )
}

/**
 * The demo's end: every other pre-sale guest who still holds money enters a
 * made-up bank account on the portal (the first of them donates everything,
 * the second one euro), another guest sends a bank top-up, and the payout
 * cycle runs. Each touched guest's balance is checked against what they held,
 * donated, were paid, got back and sent.
 */
export async function runDemoPayouts(options: DemoPayoutsOptions): Promise<DemoPayouts> {
  const { ledger } = options
  const holding = options.wristbands.filter((w) => (ledger.balanceOf(w.uid) ?? 0) > 0)
  const registering = holding.filter((_, i) => i % 2 === 0).slice(0, MAX_DEMO_REGISTRATIONS)
  const topupGuest = options.wristbands.find((w) => !registering.includes(w))
  if (registering.length === 0 || topupGuest === undefined) {
    const skipped = 'no guest with a PIN holds money at the end'
    return { payoutRun: { count: 0, exported: false, skipped }, lines: [`payout run: none (${skipped})`] }
  }

  const before = new Map<string, number>()
  const donations = new Map<string, number>()
  for (const [i, w] of registering.entries()) {
    const guest = await portalLogin(options.baseUrl, w.pin)
    const balance = ledger.balanceOf(w.uid) ?? 0
    before.set(w.uid, balance)
    const allIn = i === 0 && registering.length > 2
    donations.set(w.uid, allIn ? balance : i === 1 ? Math.min(100, balance) : 0)
    await registerPayoutData(guest, allIn ? 'donate_all' : { iban: demoIban(100_000 + i), accountName: `Demo Guest ${i + 1}`, email: `guest${i + 1}@demo.example`, donationCents: i === 1 ? 100 : 0 })
  }
  const topupPortal = await portalLogin(options.baseUrl, topupGuest.pin)
  const topupBefore = ledger.balanceOf(topupGuest.uid) ?? 0

  const cycle = await runPayoutCycle({
    ...options,
    returnShare: DEMO_RETURN_SHARE,
    seed: DEMO_BANK_SEED,
    topups: [{ guest: topupPortal, amountCents: DEMO_BANK_TOPUP_CENTS, payer: 'Demo Guest Abroad', iban: demoIban(999_999) }],
  })

  // What each touched guest must hold now: their donation and payout gone, a returned payout back, the top-up in.
  const returnedUids = new Set(cycle.statement.returned.map((r) => cycle.exported.items.find((i) => i.endToEndId === r.endToEndId)!.uid))
  const expected = new Map([...before].map(([uid, balance]) => [uid, returnedUids.has(uid) ? balance - donations.get(uid)! : 0]))
  expected.set(topupGuest.uid, topupBefore + DEMO_BANK_TOPUP_CENTS)
  const guestsRight = [...expected].every(([uid, cents]) => (ledger.balanceOf(uid) ?? 0) === cents)
  const balanced = ledger.checkInvariants().length === 0 && ledger.sumOfAllBalances() === 0 && guestsRight
  const { payoutRun, bankRoundTrip: trip } = summarisePayoutCycle(cycle, balanced)

  const money = (cents: number) => `${decimalStringFromCents(cents)} ${options.currency}`
  const lines = [
    `payout run ${payoutRun.id}: ${payoutRun.count} payouts, ${money(payoutRun.sumCents)}, donations ${money(payoutRun.donationsCents)}; created by ${payoutRun.createdBy}, ` +
      `${payoutRun.creatorApprovalRefused ? 'who may not approve it, ' : ''}approved by ${payoutRun.approvedBy}; ${payoutRun.exported ? `exported to ${payoutRun.file}` : 'NOT exported'}`,
    `bank statement: ${trip.payouts} payouts out, ${trip.returned} returned (${money(trip.returnedCents)} back on the wristbands, payout data marked invalid), ` +
      `${trip.topups} bank top-up (${money(trip.topupCents)}); imported again: ${trip.reimportAlready} of ${trip.entries} already, ${trip.reimportBooked} booked; ledger ${trip.ledgerBalanced ? 'balanced' : 'NOT balanced'}`,
  ]
  return { payoutRun, bankRoundTrip: trip, lines }
}
