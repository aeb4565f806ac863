// Test harness of the users and payments API: the gateway's real HTTP server
// (its error handler and ajv settings) with the plugin mounted, a real SQLite
// ledger (or the ledger on a database of a test engine, world-engines.ts:
// SQLite or PostgreSQL) and the Stripe simulator. Test code only.
import type { Test } from 'tap'
import { createHttpServer, type StatsReply } from '../../http.js'
import { makeWorld, silentLogger, type TestWorld } from '../../ledger/testing/test-helpers.js'
import { createPinAttempts } from '../../pin-attempts.js'
import { createStripeClient } from '../../payments/stripe-client.js'
import { startStripeSim, type StripeSim } from '../../../simulators/stripe-sim/index.js'
import { createPaymentsService, usersPaymentsPlugin, type PaymentsService, type UsersPaymentsOptions } from '../plugin.js'
import { createUsersStore, type UsersStore } from '../store.js'
import type { SqlDatabase } from '../../sql/database.js'
import type { WorldDatabase } from '../../testing/world-engines.js'

export const JWT_SECRET = 'test-secret-of-the-users-api-0123456789abcdef'
export const PREFIX = '/users-api'
const STRIPE_KEY = 'sk_test_users_api_0123456789'

export interface ApiReply {
  status: number
  body: any
}

export interface Harness {
  world: TestWorld<SqlDatabase>
  store: UsersStore
  sim: StripeSim
  stripe: ReturnType<typeof createStripeClient>
  payments: PaymentsService
  /** http://127.0.0.1:port of the server (the API is under PREFIX, the docs at /docs). */
  origin: string
  /** A JSON request; `body` as a string is sent raw (for malformed input). */
  api(method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>): Promise<ApiReply>
  /** Registers a user and returns its id and token. */
  register(email: string, password?: string): Promise<{ userId: string; token: string }>
  /** Creates and confirms a payment with pm_card_visa; returns the payment intent id. */
  prepay(token: string, cuid: string, amount?: number): Promise<string>
}

export async function startHarness(
  t: Test,
  overrides: Partial<UsersPaymentsOptions> = {},
  stripeOptions: { maxNetworkRetries?: number } = {},
  server: { docs?: boolean; /** The database to run on; default SQLite in memory. */ database?: WorldDatabase } = {},
): Promise<Harness> {
  const sim = await startStripeSim({ apiKey: STRIPE_KEY })
  const world: TestWorld<SqlDatabase> = server.database === undefined ? makeWorld() : makeWorld(server.database)
  const stripe = createStripeClient({ apiKey: STRIPE_KEY, baseUrl: sim.baseUrl, ...stripeOptions })
  const store = createUsersStore(world.db)
  const options: UsersPaymentsOptions = {
    store,
    ledger: world.ledger,
    stripe,
    jwtSecret: JWT_SECRET,
    clock: world.clock,
    logger: silentLogger,
    currency: 'EUR',
    // Cheap hashes keep the tests fast; production keeps the default cost.
    passwordScryptN: 1024,
    authRateLimit: { max: 1000, timeWindowMs: 60_000 },
    linkRateLimit: { max: 1000, timeWindowMs: 60_000 },
    // The gateway's real limiter, generous unless a test brings its own.
    pinAttempts: createPinAttempts({ clock: world.clock, logger: silentLogger, limits: { perSourceWrongMax: 1000 } }),
    ...overrides,
  }
  const payments =
    options.payments ??
    createPaymentsService({
      store,
      ledger: world.ledger,
      stripe: options.stripe,
      clock: world.clock,
      logger: silentLogger,
      currency: 'EUR',
      minAmountCents: options.minAmountCents ?? 100,
      maxAmountCents: options.maxAmountCents ?? 100_000,
    })
  options.payments = payments
  const http = createHttpServer({
    logger: silentLogger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => ({}) as StatsReply,
    plugins: [{ plugin: usersPaymentsPlugin, prefix: PREFIX, options: options as unknown as Record<string, unknown> }],
    ...(server.docs ? { docs: { title: 'users-api test', version: '0.0.0' } } : {}),
  })
  const address = await http.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await http.close()
    await sim.close()
    world.close()
  })
  const origin = `http://127.0.0.1:${address.port}`
  const base = `${origin}${PREFIX}`

  async function api(method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<ApiReply> {
    const h: Record<string, string> = { ...headers }
    if (body !== undefined && h['content-type'] === undefined) h['content-type'] = 'application/json'
    if (token !== undefined) h.authorization = `Bearer ${token}`
    const res = await fetch(base + path, {
      method,
      headers: h,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON: the raw text stays
    }
    return { status: res.status, body: parsed }
  }

  async function register(email: string, password = 'correct horse battery'): Promise<{ userId: string; token: string }> {
    const reg = await api('POST', '/user/register', { userName: email.split('@')[0], email, password })
    if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`)
    const token = reg.body.access_token as string
    const me = await api('GET', '/user', undefined, token)
    return { userId: me.body[0].userId, token }
  }

  async function prepay(token: string, cuid: string, amount?: number): Promise<string> {
    const created = await api('POST', '/payment', amount === undefined ? { cuid } : { cuid, amount }, token)
    if (created.status !== 201) throw new Error(`payment failed: ${created.status} ${JSON.stringify(created.body)}`)
    const confirmed = await api('POST', '/payment/confirm', { cuid, paymentId: created.body.id, paymentMethodId: 'pm_card_visa' }, token)
    if (confirmed.status !== 201 || confirmed.body.status !== 'succeeded') throw new Error(`confirm failed: ${confirmed.status} ${JSON.stringify(confirmed.body)}`)
    return created.body.id as string
  }

  return { world, store, sim, stripe, payments, origin, api, register, prepay }
}
