// A gateway-side world for the portal tests: a real SQLite file (or a
// database of a test engine, world-engines.ts: SQLite or PostgreSQL), the real
// ledger with the ledger tests' small set-up, some booked sales and top-ups,
// the portal backend, and the gateway's own HTTP server with the portal
// mounted under /api on 127.0.0.1:0. Test code only.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Logger } from 'pino'
import { pino } from 'pino'
import { fakeTopups, TEST_SECRET, type FakeTopups } from '../../portal-api/testing/helpers.js'
import type { LoginRateLimit, PayoutCheckPortalService, PortalBankTransfer } from '../../portal-api/index.js'
import { createHttpServer } from '../http.js'
import { createPinAttempts, type GatewayPinAttempts, type PinAttemptLimits } from '../pin-attempts.js'
import { accountIds, type Ledger } from '../ledger/index.js'
import { PIN, UID, makeWorld, verified, type TestWorld } from '../ledger/testing/test-helpers.js'
import { createPortalBackend, portalMount, type GatewayPortalBackend, type PortalEventConfig } from '../portal-backend.js'
import type { SqlDatabase } from '../sql/database.js'
import type { WorldDatabase } from './world-engines.js'

export { PIN, UID }

export const EVENT_CONFIG: PortalEventConfig = {
  allowedCountryCodes: ['DE', 'AT'],
  contactEmail: 'help@testfest.example',
  salesTax: { name: 'VAT 19%', rateBasisPoints: 1900, id: 1 },
  bon: { issuer: 'Test Fest e.V.', address: 'Street 1, 12345 Town', ustId: 'DE123456789' },
}

export interface PortalWorld {
  world: TestWorld<SqlDatabase>
  ledger: Ledger
  backend: GatewayPortalBackend
  topups: FakeTopups
  /** Base URL of the portal API, with the /api prefix. */
  base: string
  /** The SQLite file, when the world made its own (undefined on an engine's database). */
  dbPath: string | undefined
  /** Books a sale of `qty` beers (450 each) for `uid` at bar-1. */
  sellBeer(uid: string, qty: number): void
  topUpCash(uid: string, cents: number): void
  pinAttempts: GatewayPinAttempts
}

function mustAccept(ledger: Ledger, envelope: Parameters<Ledger['applyBatch']>[0][number]['envelope']): void {
  const [outcome] = ledger.applyBatch([verified(envelope)])
  if (outcome?.kind !== 'result' || outcome.result.status !== 'accepted') throw new Error(`test booking refused: ${JSON.stringify(outcome)}`)
}

/**
 * Alice: cash top-up 20.00, 2 beers (9.00), online top-up 10.00 -> 21.00.
 * Bob: cash top-up 5.00, 1 beer -> 0.50.
 */
export async function startPortalWorld(
  t: Test,
  options: {
    logger?: Logger
    rateLimit?: Partial<LoginRateLimit>
    tokenTtlS?: number
    eventConfig?: PortalEventConfig
    pinAttemptLimits?: Partial<PinAttemptLimits>
    /** The bank transfer details of a guest; built on the world's ledger and database. */
    bankTransfer?: (world: TestWorld<SqlDatabase>) => (uid: string) => PortalBankTransfer | undefined
    /** SEPA checks of payout data; built on the world's database. */
    payoutCheck?: (world: TestWorld<SqlDatabase>) => PayoutCheckPortalService
    /** The database to run on (world-engines.ts); default a SQLite file of the world's own. */
    database?: WorldDatabase
  } = {},
): Promise<PortalWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-portal-'))
  const dbPath = options.database === undefined ? join(dir, 'gateway.sqlite') : undefined
  const world: TestWorld<SqlDatabase> = dbPath === undefined ? makeWorld(options.database!) : makeWorld(dbPath)
  const { ledger } = world
  const topups = fakeTopups()
  const logger = options.logger ?? pino({ level: 'silent' })

  const sellBeer = (uid: string, qty: number) => mustAccept(ledger, world.kiosks.bar.sale(uid, [{ product: 'beer', qty, unitPrice: 450 }]))
  const topUpCash = (uid: string, cents: number) => mustAccept(ledger, world.kiosks.cash.topup(uid, cents))
  topUpCash(UID.alice, 2000)
  world.clock.advance(60_000)
  sellBeer(UID.alice, 2)
  world.clock.advance(60_000)
  const clearing = ledger.ensureAccount('clearing', 'sim')
  ledger.bookExternal({
    ref: 'sim:chk-seed-1',
    kind: 'topup_online',
    postings: [
      { account: clearing, amount: -1000 },
      { account: accountIds.customer(UID.alice), amount: 1000 },
    ],
  })
  topUpCash(UID.bob, 500)
  sellBeer(UID.bob, 1)

  // The gateway's real limiter; generous unless a test is about guessing.
  const pinAttempts = createPinAttempts({ clock: world.clock, logger, limits: options.pinAttemptLimits ?? { perSourceWrongMax: 10_000 } })
  const parts = { ledger, db: world.db, clock: world.clock, logger, pinAttempts }
  const mount = portalMount(parts, {
    eventConfig: options.eventConfig ?? EVENT_CONFIG,
    topups,
    authSecret: TEST_SECRET,
    // Generous unless a test is about the limits.
    rateLimit: { perIpMax: 10_000, ...options.rateLimit },
    ...(options.tokenTtlS === undefined ? {} : { tokenTtlS: options.tokenTtlS }),
    ...(options.bankTransfer === undefined ? {} : { bankTransfer: options.bankTransfer(world) }),
    ...(options.payoutCheck === undefined ? {} : { payoutCheck: options.payoutCheck(world) }),
  })
  const backend = (mount.options as { backend: GatewayPortalBackend }).backend
  // The gateway's own HTTP server, mounting the portal as the app will.
  const server = createHttpServer({
    logger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {
      throw new Error('not in this test')
    },
    stats: () => {
      throw new Error('not in this test')
    },
    plugins: [mount],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    world.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { world, ledger, backend, topups, base: `http://127.0.0.1:${port}/api`, dbPath, sellBeer, topUpCash, pinAttempts }
}

/** A second backend on the same database (as after a gateway restart). */
export function reopenBackend(w: PortalWorld): GatewayPortalBackend {
  return createPortalBackend({ db: w.world.db, ledger: w.ledger, clock: w.world.clock, logger: pino({ level: 'silent' }), eventConfig: EVENT_CONFIG, topups: w.topups })
}
