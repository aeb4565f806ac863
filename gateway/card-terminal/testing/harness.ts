// A card-terminal API on a real gateway HTTP server (127.0.0.1, port 0), a real
// SQLite ledger (or the ledger on a database of a test engine, world-engines.ts:
// SQLite or PostgreSQL) with the ledger's test set-up, and the Stripe
// simulator. Test code only.
import type { Test } from 'tap'
import type Stripe from 'stripe'
import { startStripeSim, type StripeSim } from '../../../simulators/stripe-sim/index.js'
import { createHttpServer } from '../../http.js'
import { createStripeClient } from '../../payments/stripe-client.js'
import { makeWorld, silentLogger, verified, UID, type TestWorld } from '../../ledger/testing/test-helpers.js'
import { createCardTerminalApi, type CardTerminalApi } from '../plugin.js'
import { createCardTerminalStore, type CardTerminalStore } from '../store.js'
import { locationsFromLedger, type CardPrincipal } from '../types.js'
import type { SqlDatabase } from '../../sql/database.js'
import type { WorldDatabase } from '../../testing/world-engines.js'

export { UID }

/** Bearer tokens of the test: bar-1 sits at booth 'bar', food-1 at 'food'. */
export const TOKEN = {
  bar: 'kiosk-bar-1-token-0123456789',
  food: 'kiosk-food-1-token-0123456789',
  operator: 'operator-anna-token-0123456789',
} as const

const principals: Record<string, CardPrincipal> = {
  [TOKEN.bar]: { role: 'kiosk', id: 'bar-1' },
  [TOKEN.food]: { role: 'kiosk', id: 'food-1' },
  [TOKEN.operator]: { role: 'operator', id: 'anna' },
}

export const OPEN_TIMEOUT_MS = 10 * 60_000

export interface Harness {
  world: TestWorld<SqlDatabase>
  store: CardTerminalStore
  sim: StripeSim
  /** A Stripe client of the test itself (plays the terminal SDK / Stripe.js side). */
  stripe: Stripe
  api: CardTerminalApi
  baseUrl: string
  call(path: string, body?: unknown, options?: { token?: string | null; method?: string; rawBody?: string; contentType?: string }): Promise<{ status: number; body: any }>
  /** Cents on an account, 0 when it does not exist yet. */
  balance(account: string): number
  /** Counts of what changes money: external bookings in the ledger. */
  bookings(): number
}

export async function startHarness(t: Test, options: { initialAliceCents?: number; docs?: boolean; /** The database to run on; default SQLite in memory. */ database?: WorldDatabase } = {}): Promise<Harness> {
  const world: TestWorld<SqlDatabase> = options.database === undefined ? makeWorld() : makeWorld(options.database)
  t.teardown(() => world.close())
  // Alice gets money on her wristband the ordinary way: a cash top-up at the cash desk.
  const alice = options.initialAliceCents ?? 5000
  if (alice > 0) {
    const [outcome] = world.ledger.applyBatch([verified(world.kiosks.cash.topup(UID.alice, alice))])
    if (outcome?.kind !== 'result' || outcome.result.status !== 'accepted') throw new Error('test top-up refused')
  }
  const sim = await startStripeSim({ apiKey: 'sk_test_cardterminal_0123' })
  t.teardown(() => sim.close())
  const stripeOfGateway = createStripeClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl, maxNetworkRetries: 0 })
  const stripe = createStripeClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl, maxNetworkRetries: 0 })
  const store = createCardTerminalStore(world.db)
  const api = createCardTerminalApi({
    store,
    ledger: world.ledger,
    stripe: stripeOfGateway,
    auth: (token) => principals[token] ?? null,
    locations: locationsFromLedger(world.ledger),
    clock: world.clock,
    logger: silentLogger,
    currency: 'EUR',
    publishableKey: sim.publishableKey,
    venue: { line1: 'Festival grounds 1', city: 'Berlin', postal_code: '10115', country: 'DE' },
    openTimeoutMs: OPEN_TIMEOUT_MS,
  })
  const http = createHttpServer({
    logger: silentLogger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('not in this test')
    },
    plugins: [{ plugin: api.plugin, prefix: '' }],
    ...(options.docs ? { docs: { title: 'card-terminal test', version: '0.0.0' } } : {}),
  })
  const address = await http.listen('127.0.0.1', 0)
  t.teardown(() => http.close())
  const baseUrl = `http://127.0.0.1:${address.port}`

  async function call(path: string, body?: unknown, o: { token?: string | null; method?: string; rawBody?: string; contentType?: string } = {}) {
    const headers: Record<string, string> = {}
    const token = o.token === undefined ? TOKEN.bar : o.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    let payload: string | undefined
    if (o.rawBody !== undefined) payload = o.rawBody
    else if (body !== undefined) payload = JSON.stringify(body)
    if (payload !== undefined) headers['content-type'] = o.contentType ?? 'application/json'
    const response = await fetch(baseUrl + path, { method: o.method ?? 'POST', headers, body: payload })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as any }
  }

  return {
    world,
    store,
    sim,
    stripe,
    api,
    baseUrl,
    call,
    balance: (account) => world.ledger.accountBalance(account) ?? 0,
    bookings: () => (world.db.prepare('SELECT COUNT(*) AS n FROM external_bookings').get() as { n: number }).n,
  }
}

/** Registers a simulated reader at the bar through the API and returns its id. */
export async function registerBarReader(h: Harness, label = 'Bar till'): Promise<string> {
  const before = new Set(h.store.terminalsAt('bar').map((t) => t.terminal_id))
  const code = `bar-reader-${before.size + 1}-${Math.random().toString(36).slice(2, 8)}`
  h.sim.control.addRegistrationCode(code)
  const res = await h.call('/api/stripe/v1/register_terminal/', { location: 'bar', registration_code: code, label })
  if (res.status !== 204) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`)
  const added = h.store.terminalsAt('bar').find((t) => !before.has(t.terminal_id))
  if (!added) throw new Error('no terminal stored')
  return added.terminal_id
}
