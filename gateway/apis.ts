// The gateway's HTTP APIs beyond health and admin, built from the gateway's
// parts (ledger, database) and its config: the customer portal (API and page),
// online top-ups with their provider webhooks, the users/payments API and the
// card-terminal API. Each lives in its own module; this one only connects them
// and owns the background work they need (reconciling open payments).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type Stripe from 'stripe'
import { PortalError, type TopupService } from '../portal-api/backend.js'
import type { PortalLoginOutcome } from '../portal-api/plugin.js'
import { portalWeb } from '../portal-api/web-plugin.js'
import type { GatewayParts } from './app.js'
import { bankAdmin } from './bank/bank-admin.js'
import { bankImportApi } from './bank/bank-import-plugin.js'
import { bankTransferDetails } from './bank/bank-transfer-details.js'
import { createBankImportJobs, type PayoutReturns } from './bank/import-jobs.js'
import { createImportQueue } from './bank/import-queue.js'
import { createLeaseKeeper, runWhileLeased, soleLeases, type IntervalTimers, type JobFence, type LeaseFor } from './cluster-jobs.js'
import { createTransferCodes } from './bank/transfer-codes.js'
import { createBearerAuth, createCardTerminalApi, createCardTerminalStore, locationsFromLedger } from './card-terminal/index.js'
import { DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES } from './config.js'
import type { MountedPlugin } from './http.js'
import { disputesAdmin } from './payments/disputes-admin.js'
import { createDisputeService, type DisputeService } from './payments/disputes.js'
import { createOnlineTopups, OnlineTopupError, type OnlineTopups } from './payments/online-topups.js'
import type { PaymentProvider } from './payments/provider.js'
import { cardRefundsAdmin, portalCardRefunds } from './payments/refund-http.js'
import { createReconciliation, type Reconciliation } from './payments/reconciliation.js'
import { reconciliationAdmin } from './payments/reconciliation-admin.js'
import { createCardRefunds, type CardRefundService } from './payments/refunds.js'
import { createRefundRuns } from './payments/refund-runs.js'
import { refundRunsAdmin } from './payments/refund-runs-admin.js'
import { operatorAccountsAuth } from './payouts/payouts-admin.js'
import { createStripeClient } from './payments/stripe-client.js'
import { createStripeProvider } from './payments/stripe.js'
import { createStancerClient } from './payments/stancer-client.js'
import { createStancerProvider } from './payments/stancer.js'
import { createSepaChecks, portalPayoutCheck, type SepaChecks } from './payments/sepa-checks.js'
import { createSumUpProvider } from './payments/sumup.js'
import { portalMount } from './portal-backend.js'
import { createSecretStore } from './secret-store.js'
import { createPaymentsService, createUsersStore, usersPaymentsPlugin } from './users-payments/plugin.js'

/** Open online payments are checked with their provider this often (a guest who closed the browser still gets the money). */
const RECONCILE_INTERVAL_MS = 30_000
/** Refunds to the card left open (sent and pending, or of unknown outcome) are looked at this often. */
const REFUND_RECOVERY_INTERVAL_MS = 60_000
/** The provider's disputes are listed (and open ones asked about) at start and this often; webhooks usually come first. */
const DISPUTE_POLL_INTERVAL_MS = 5 * 60_000
/** Card payments left open (a terminal that never answered) are settled this often. */
const CARD_SWEEP_INTERVAL_MS = 60_000
/** SEPA checks of payout data that are due (queued, pending at the provider, or unknown after a failure) are looked at this often. */
const SEPA_CHECK_INTERVAL_MS = 60_000
/**
 * With several gateways (leaseFor given): a gateway without a job's lease asks for it this often, and the bank
 * import's holder looks for jobs uploaded through another gateway this often.
 */
const JOB_LEASE_POLL_MS = 10_000
export const USERS_API_PREFIX = '/users-api'
export const PORTAL_PAGE_PREFIX = '/portal'

export interface GatewayApis {
  plugins: MountedPlugin[]
  /** Routes inside /admin (behind its bearer token): the bank import's operator decisions. */
  adminPlugins: FastifyPluginAsync[]
  /** Starts the background reconciliation. */
  start(): void
  /** Stops it and waits for a run in progress. */
  stop(): Promise<void>
}

/** The portal sees refusals of the top-up service as its own errors, with the same status codes. */
function asPortalTopups(topups: OnlineTopups | undefined): TopupService {
  const unavailable = () => new PortalError(503, 'topup_unavailable', 'online top-up is not available at this event')
  const translate = (err: unknown): never => {
    if (err instanceof OnlineTopupError) {
      const status = ([400, 404, 403, 409, 422, 429, 503] as const).find((s) => s === err.statusCode) ?? 502
      throw new PortalError(status === 400 ? 422 : status, err.code, err.message)
    }
    throw err
  }
  return {
    async createCheckout(input) {
      if (!topups) throw unavailable()
      return topups.createCheckout(input).catch(translate)
    },
    async checkCheckout(input) {
      if (!topups) throw unavailable()
      return topups.checkCheckout(input).catch(translate)
    },
  }
}

export interface GatewayApisOptions {
  /** How guests' browsers and providers reach the gateway; a function because port 0 is known only after listen. */
  publicBaseUrl: () => string
  /** Something an operator must look at (a payment the provider reported differently, ...): published on events/alert. */
  alert?: (alert: { kind: string; message: string }) => void
  /** The payout module's side of a returned transfer (gateway/payouts/); without it no transfer is taken for a returned payout. */
  payoutReturns?: PayoutReturns
  /** Republishes the retained configs of these kiosks (a dispute's block goes onto every kiosk's signed blocklist at once). */
  publishKioskConfigs?: (kioskIds: readonly string[]) => Promise<void>
  /** Told how every portal login ended (the gateway's metrics). */
  observePortalLogin?: (outcome: PortalLoginOutcome) => void
  /**
   * The lease of each background job (postgres/lease.ts pgLeases), when several gateways share one PostgreSQL
   * database: a job runs only on the gateway holding its lease. Default: this gateway is the only one (soleLease).
   */
  leaseFor?: LeaseFor
  /** The background jobs' lease renewals and polls (tests give fake ones). */
  jobTimers?: IntervalTimers
}

/** The organizer and event slug of the bank import jobs API unless the config names them (bank.organizerSlug, bank.eventSlug): the event's name, lower case, words joined by '-'. */
export function slugOfEventName(name: string): string {
  // Accents go with their letter (Ü is U and a combining mark): the mark is dropped, not made a '-'.
  return name.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'event'
}

/** `Authorization: Token <admin token>` (constant-time); no admin token, no access. */
function adminTokenCheck(adminToken: string | undefined): (token: string) => string | undefined {
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest()
  const expected = adminToken === undefined ? undefined : sha256(adminToken)
  return (token) => (expected !== undefined && timingSafeEqual(sha256(token), expected) ? 'admin' : undefined)
}

export function createGatewayApis(parts: GatewayParts, options: GatewayApisOptions): GatewayApis {
  const { ledger, db, config, clock } = parts
  const logger = parts.logger
  const currency = ledger.registry.event()?.currency ?? 'EUR'
  const payments = config.payments

  const stripe: Stripe | undefined = payments.stripe
    ? createStripeClient({ apiKey: payments.stripe.secretKey, ...(payments.stripe.baseUrl ? { baseUrl: payments.stripe.baseUrl } : {}) })
    : undefined
  const providers: Record<string, PaymentProvider> = {}
  if (payments.sumup) {
    providers.sumup = createSumUpProvider({
      apiKey: payments.sumup.apiKey,
      merchantCode: payments.sumup.merchantCode,
      baseUrl: payments.sumup.baseUrl,
      webhookUrl: () => `${options.publicBaseUrl()}/payments/webhooks/sumup`,
      ...(payments.sumup.webhookSecret ? { webhookSecret: payments.sumup.webhookSecret } : {}),
      logger: logger.child({ component: 'sumup' }),
    })
  }
  if (stripe && payments.stripe) {
    providers.stripe = createStripeProvider({ stripe, webhookSecret: payments.stripe.webhookSecret, logger: logger.child({ component: 'stripe' }) })
  }
  let sepaChecks: SepaChecks | undefined
  if (payments.stancer) {
    // Its webhooks are unsigned hints (the provider's dashboard points them at /payments/webhooks/stancer): every status is asked of the provider.
    const client = createStancerClient({ secretKey: payments.stancer.secretKey, ...(payments.stancer.baseUrl ? { baseUrl: payments.stancer.baseUrl } : {}) })
    providers.stancer = createStancerProvider({ client, logger: logger.child({ component: 'stancer' }) })
    // The provider's SEPA check of the guests' payout data (README "SEPA check of payout data"): only with this provider.
    sepaChecks = createSepaChecks({ db, client, clock, logger })
  }
  // Disputes on stancer top-ups (gateway/payments/disputes.ts): its webhooks are hints for them too, and a poller lists them.
  let disputes: DisputeService | undefined
  if (providers.stancer && payments.stancer) {
    disputes = createDisputeService({
      db,
      ledger,
      client: createStancerClient({ secretKey: payments.stancer.secretKey, ...(payments.stancer.baseUrl ? { baseUrl: payments.stancer.baseUrl } : {}) }),
      provider: 'stancer',
      clock,
      logger,
      ...(options.publishKioskConfigs ? { publishKioskConfigs: options.publishKioskConfigs } : {}),
      ...(options.alert ? { alert: (a) => options.alert!({ kind: a.kind, message: a.message }) } : {}),
    })
    providers.stancer = disputes.withWebhookHints(providers.stancer)
  }
  const defaultProvider = payments.defaultProvider ?? Object.keys(providers)[0]
  const topups: OnlineTopups | undefined =
    defaultProvider && providers[defaultProvider]
      ? createOnlineTopups({
          db,
          ledger,
          providers,
          defaultProvider,
          currency,
          clock,
          logger: logger.child({ component: 'online-topups' }),
          returnUrlBase: () => `${options.publicBaseUrl()}${PORTAL_PAGE_PREFIX}/`,
          ...(options.alert
            ? {
                alert: (a) =>
                  options.alert!({ kind: a.kind, message: `${a.reason}: ${a.provider} checkout ${a.checkoutId} of ${a.amountCents} cents for wristband ${a.uid}` }),
              }
            : {}),
          minAmountCents: payments.minTopupCents,
          maxAmountCents: payments.maxTopupCents,
        })
      : undefined

  // Refunds to the card, when a configured provider can refund (README "Refunds to the card").
  const cardRefunds: CardRefundService | undefined = Object.values(providers).some((p) => p.refunds !== undefined)
    ? createCardRefunds({
        db,
        ledger,
        providers,
        currency,
        clock,
        logger,
        ...(options.alert ? { alert: (a) => options.alert!({ kind: a.kind, message: `${a.reason}: ${a.provider} refund part ${a.partId} of ${a.amountCents} cents for wristband ${a.uid}` }) } : {}),
      })
    : undefined

  // Each wristband's transfer reference, shown with the organiser's account (event set-up portal.bankAccount).
  const transferCodes = createTransferCodes({ db, clock })
  const bankTransfer = bankTransferDetails({ transferCodes, bankAccount: () => ledger.registry.portalBankAccount() })

  const plugins: MountedPlugin[] = [
    portalMount(parts, {
      bankTransfer,
      ...(cardRefunds ? { cardRefunds: portalCardRefunds(cardRefunds) } : {}),
      ...(sepaChecks ? { payoutCheck: portalPayoutCheck(sepaChecks) } : {}),
      prefix: config.portal.prefix,
      ...(options.observePortalLogin ? { observeLogin: options.observePortalLogin } : {}),
      topups: asPortalTopups(topups),
      eventConfig: {
        allowedCountryCodes: config.portal.allowedCountryCodes,
        contactEmail: config.portal.contactEmail,
        ...(ledger.registry.event()?.name ? { eventName: ledger.registry.event()!.name } : {}),
        ...(config.portal.dataPrivacyUrl ? { dataPrivacyUrl: config.portal.dataPrivacyUrl } : {}),
        ...(config.portal.aboutPageUrl ? { aboutPageUrl: config.portal.aboutPageUrl } : {}),
        ...(config.portal.testModeMessage ? { testMode: true, testModeMessage: config.portal.testModeMessage } : {}),
        ...(config.portal.salesTax ? { salesTax: config.portal.salesTax } : {}),
        topupEnabled: topups !== undefined,
        minTopupCents: payments.minTopupCents,
        maxTopupCents: payments.maxTopupCents,
      },
    }),
    { plugin: portalWeb, prefix: PORTAL_PAGE_PREFIX, options: { apiBase: config.portal.prefix } },
  ]
  if (topups) plugins.push({ plugin: topups.webhookPlugin, prefix: '' })

  // Bank import jobs (seed 003) beside the portal under /api, for the finance team's bank tool.
  const bankJobs = createBankImportJobs({
    db,
    ledger,
    transferCodes,
    ...(options.payoutReturns ? { payouts: options.payoutReturns } : {}),
    clock,
    logger: logger.child({ component: 'bank-import' }),
    currency,
    ...(options.alert ? { alert: options.alert } : {}),
  })
  // Background jobs run once across the cluster: each on the gateway holding its lease (cluster-jobs.ts); alone, this gateway holds all.
  const clustered = options.leaseFor !== undefined
  const leaseFor = options.leaseFor ?? soleLeases
  const keeperOf = (job: string) => createLeaseKeeper({ lease: leaseFor(job), logger, ...(options.jobTimers ? { timers: options.jobTimers } : {}) })
  // Uploads through another gateway's HTTP kick only that gateway's queue: the holder polls (alone, a kick is enough).
  const bankQueue = createImportQueue({
    jobs: bankJobs,
    logger: logger.child({ component: 'bank-import' }),
    lease: keeperOf('bank-import'),
    ...(clustered ? { pollMs: JOB_LEASE_POLL_MS } : {}),
    ...(options.jobTimers ? { timers: options.jobTimers } : {}),
  })
  const derivedSlug = slugOfEventName(ledger.registry.event()?.name ?? 'event')
  const organizer = config.bank?.organizerSlug ?? derivedSlug
  const event = config.bank?.eventSlug ?? derivedSlug
  plugins.push({
    plugin: bankImportApi,
    prefix: '',
    options: { jobs: bankJobs, queue: bankQueue, organizer, event, authenticate: adminTokenCheck(config.adminToken) },
    // Wrong tokens are throttled per address, as on /admin.
    throttleCredentials: 'bank-import',
  })
  const adminPlugins = [bankAdmin({ jobs: bankJobs, transferCodes, wristbandKnown: (uid) => ledger.wristband(uid) !== undefined })]
  if (disputes) adminPlugins.push(disputesAdmin({ disputes }))
  if (cardRefunds) {
    const operatorAuth = operatorAccountsAuth(config.operators)
    adminPlugins.push(cardRefundsAdmin({ refunds: cardRefunds, operatorAuth }))
    // Refund runs after the event (README "Refund runs"): four eyes as the payout runs; execute books the refunds and the recovery runs send them.
    const refundRuns = createRefundRuns({
      db,
      ledger,
      refunds: cardRefunds,
      clock,
      logger,
      allowedCountryCodes: () => config.portal.allowedCountryCodes,
      // The first parts go out now rather than at the next recovery run; the rest follow run by run.
      afterExecute: () => void cardRefunds.recover().catch((err: unknown) => logger.error({ err }, 'card refund recovery after a refund run failed')),
    })
    adminPlugins.push(refundRunsAdmin({ runs: refundRuns, operatorAuth }))
  }
  // Provider payout reconciliation (README "Reading the reconciliation report"): on demand, POST /admin/reconciliation/run or `wristpay-gateway reconcile provider`,
  // and every payments.stancer.reconcileIntervalMinutes from where the last run left off (0: only on demand).
  let reconciliation: Reconciliation | undefined
  const reconcileIntervalMinutes = payments.stancer?.reconcileIntervalMinutes ?? DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES
  if (payments.stancer) {
    reconciliation = createReconciliation({
      db,
      ledger,
      client: createStancerClient({ secretKey: payments.stancer.secretKey, ...(payments.stancer.baseUrl ? { baseUrl: payments.stancer.baseUrl } : {}) }),
      provider: 'stancer',
      currency,
      clock,
      logger,
      ...(options.alert ? { alert: (a) => options.alert!({ kind: a.kind, message: a.message }) } : {}),
    })
    adminPlugins.push(reconciliationAdmin({ reconciliation }))
  }

  let cardSweep: (() => Promise<unknown>) | undefined
  let usersReconcile: (() => Promise<unknown>) | undefined
  if (stripe && payments.stripe) {
    const usersStore = createUsersStore(db)
    const usersLogger = logger.child({ component: 'users-api' })
    const usersPayments = createPaymentsService({ store: usersStore, ledger, stripe, clock, logger: usersLogger, currency, minAmountCents: payments.minTopupCents, maxAmountCents: payments.maxTopupCents })
    usersReconcile = () => usersPayments.reconcilePending()
    plugins.push({
      plugin: usersPaymentsPlugin,
      prefix: USERS_API_PREFIX,
      options: { store: usersStore, ledger, stripe, jwtSecret: createSecretStore(db, 'gateway_secrets').bytes('users-api-jwt', 32), clock, logger: usersLogger, currency, payments: usersPayments, pinAttempts: parts.pinAttempts, bankTransfer },
    })
    const cardTerminal = createCardTerminalApi({
      store: createCardTerminalStore(db),
      ledger,
      stripe,
      auth: createBearerAuth({ kioskAuth: (id, token) => ledger.registry.kioskAuth(id, token), operators: config.operators }),
      locations: locationsFromLedger(ledger),
      clock,
      logger: logger.child({ component: 'card-terminal' }),
      currency,
      publishableKey: payments.stripe.publishableKey,
      venue: payments.venue,
    })
    cardSweep = () => cardTerminal.payments.sweep()
    // Its paths already begin with /api/stripe/v1/, as the seed has them.
    // Wrong kiosk or operator tokens are throttled per address, as on /admin.
    plugins.push({ plugin: cardTerminal.plugin, prefix: '', throttleCredentials: 'card-terminal' })
  }

  /** run() every intervalMs until stop(), which waits for the runs in progress. */
  const every = (intervalMs: number, what: string, run: () => Promise<unknown>) => (): { stop(): Promise<void> } => {
    const running = new Set<Promise<unknown>>()
    const timer = setInterval(() => {
      const p = run().catch((err: unknown) => logger.error({ err }, `${what} failed`))
      running.add(p)
      void p.finally(() => running.delete(p))
    }, intervalMs)
    timer.unref()
    return {
      async stop() {
        clearInterval(timer)
        await Promise.all(running)
      },
    }
  }
  /**
   * The periodic jobs and their leases. Each talks to a payment provider or books from what it finds, so running
   * it on every gateway would at best repeat every request (SEPA checks cost money per check) and at worst send
   * a refund or book a dispute's loss twice where a provider's idempotency does not cover it: one gateway runs each.
   */
  const leasedJobs: Array<{ stop(): Promise<void> }> = []
  const runLeased = (job: string, start: (fence: JobFence | undefined) => { stop(): Promise<void> }) => {
    // Alone, this gateway runs every job, as it always did: no lease to ask for, no poll.
    if (!clustered) return void leasedJobs.push(start(undefined))
    const keeper = keeperOf(job)
    leasedJobs.push(runWhileLeased({ keeper, start: () => start(keeper.fence), pollMs: JOB_LEASE_POLL_MS, logger, ...(options.jobTimers ? { timers: options.jobTimers } : {}) }))
  }

  return {
    plugins,
    adminPlugins,
    start() {
      // Jobs uploaded before a restart (or running when the gateway stopped) go on.
      bankQueue.kick()
      if (topups) runLeased('online-topups', () => topups.startReconciling(RECONCILE_INTERVAL_MS))
      // Parts a stop or crash left open are settled now, then every interval.
      if (cardRefunds) runLeased('card-refund-recovery', () => cardRefunds.startRecovering(REFUND_RECOVERY_INTERVAL_MS))
      // Checks due after a stop or crash, and payout data saved before the checks were configured, are asked now, then every interval.
      if (sepaChecks) runLeased('sepa-checks', () => sepaChecks.start(SEPA_CHECK_INTERVAL_MS))
      if (disputes) runLeased('disputes', () => disputes.startPolling(DISPUTE_POLL_INTERVAL_MS))
      if (reconciliation && reconcileIntervalMinutes > 0) runLeased('reconciliation', (fence) => reconciliation!.startPeriodic(reconcileIntervalMinutes * 60_000, fence ? { fence } : {}))
      if (usersReconcile) runLeased('users-payments', every(RECONCILE_INTERVAL_MS, 'users-api reconciliation', usersReconcile))
      if (cardSweep) runLeased('card-sweep', every(CARD_SWEEP_INTERVAL_MS, 'card payment sweep', cardSweep))
    },
    async stop() {
      // Each stops its worker (waiting for a run in progress) and releases its lease.
      await Promise.all(leasedJobs.splice(0).map((job) => job.stop()))
      await bankQueue.stop()
    },
  }
}
