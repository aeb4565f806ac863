// A world for the refund tests: the real ledger in a real SQLite file (or a
// PostgreSQL database: options.engine, gateway/testing/world-engines.ts),
// online top-ups through the fake refunding provider (booked by the real
// online top-up module), and the refund service on the same database.
// reopen() closes the database and builds everything on it again, as after a
// crash; the provider (its checkouts and refunds) lives on, as a real one
// would. Test code only.
import pino from 'pino'
import type { Test } from 'tap'
import { makeWorld, verified, type TestWorld } from '../../ledger/testing/test-helpers.js'
import type { SqlDatabase } from '../../sql/database.js'
import { sqliteWorlds, type WorldDatabase, type WorldEngine } from '../../testing/world-engines.js'
import { createOnlineTopups, type OnlineTopups } from '../online-topups.js'
import type { PaymentProvider } from '../provider.js'
import { createCardRefunds, type CardRefundAlert, type CardRefundService } from '../refunds.js'
import { createFakeRefundProvider, type FakeRefundProvider } from './fake-refund-provider.js'

export interface RefundWorld {
  world: TestWorld<SqlDatabase>
  provider: FakeRefundProvider
  topups: OnlineTopups
  refunds: CardRefundService
  alerts: CardRefundAlert[]
  /** The world's database (SQLite or PostgreSQL), which reopen() connects to again. */
  database: WorldDatabase
  /** A paid online top-up of `cents`, booked; returns its provider checkout id. The clock moves on a minute. */
  topUpOnline(uid: string, cents: number): Promise<string>
  /** Books a sale of `qty` beers (450 each) at bar-1. */
  sellBeer(uid: string, qty: number): void
  balance(uid: string): number
  clearing(): number
  /** The database closed and opened again, every module made anew on it (no sales after it: the kiosks get new keys). */
  reopen(): void
  /** The ledger's invariants hold and all balances sum to 0. */
  assertSound(t: Test): void
}

export async function startRefundWorld(t: Test, options: { otherProviders?: Record<string, PaymentProvider>; engine?: WorldEngine } = {}): Promise<RefundWorld> {
  const database = (options.engine ?? sqliteWorlds).database(t)
  const provider = createFakeRefundProvider()
  const providers: Record<string, PaymentProvider> = { [provider.name]: provider, ...options.otherProviders }
  const logger = pino({ level: 'silent' })
  const alerts: CardRefundAlert[] = []

  const build = (world: TestWorld<SqlDatabase>) => ({
    topups: createOnlineTopups({ db: world.db, ledger: world.ledger, providers, defaultProvider: provider.name, currency: 'EUR', clock: world.clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' }),
    refunds: createCardRefunds({ db: world.db, ledger: world.ledger, providers, currency: 'EUR', clock: world.clock, logger, alert: (a) => alerts.push(a) }),
  })

  const w = { world: makeWorld(database) } as RefundWorld
  Object.assign(w, build(w.world), {
    provider,
    alerts,
    database,
    async topUpOnline(uid: string, cents: number) {
      w.world.clock.advance(60_000)
      const { checkoutId, providerCheckoutId } = await w.topups.createCheckout({ uid, amountCents: cents })
      provider.pay(providerCheckoutId)
      const { status } = await w.topups.checkCheckout({ uid, checkoutId })
      if (status !== 'PAID') throw new Error(`test top-up not booked: ${status}`)
      return providerCheckoutId
    },
    sellBeer(uid: string, qty: number) {
      const [outcome] = w.world.ledger.applyBatch([verified(w.world.kiosks.bar.sale(uid, [{ product: 'beer', qty, unitPrice: 450 }]))])
      if (outcome?.kind !== 'result' || outcome.result.status !== 'accepted') throw new Error(`test sale refused: ${JSON.stringify(outcome)}`)
    },
    balance: (uid: string) => w.world.ledger.balanceOf(uid)!,
    clearing: () => w.world.ledger.accountBalance(`clearing:${provider.name}`) ?? 0,
    reopen() {
      const now = w.world.clock.now()
      w.world.close()
      w.world = makeWorld(database)
      w.world.clock.advance(now - w.world.clock.now())
      Object.assign(w, build(w.world))
    },
    assertSound(t: Test) {
      t.same(w.world.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(w.world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
    },
  })
  t.teardown(() => w.world.close())
  return w
}
