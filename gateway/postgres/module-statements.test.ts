// Every statement the payments, payouts, bank, users and retirement modules
// and the ledger's registry prepare when they are made is one PostgreSQL accepts: each module is built
// on the PostgreSQL SqlDatabase (which only rewrites placeholders), and each
// statement it prepared is parsed and planned by the server (PREPARE), which
// finds what only SQLite knows (rowid, json_each, INSERT OR IGNORE) and
// parameters whose type the server cannot tell. What the statements do is
// tested by each module's own tests (on both engines where they build the
// module on a bare database: gateway/testing/sql-engines.ts).
import pino from 'pino'
import t from 'tap'
import { createBankImportJobs } from '../bank/import-jobs.js'
import { createTransferCodes } from '../bank/transfer-codes.js'
import { createDisputeService } from '../payments/disputes.js'
import { createOnlineTopups } from '../payments/online-topups.js'
import { openTopupCounts } from '../payments/open-topups.js'
import type { PaymentProvider } from '../payments/provider.js'
import { createReconciliation } from '../payments/reconciliation.js'
import { createRefundRuns } from '../payments/refund-runs.js'
import { createCardRefunds } from '../payments/refunds.js'
import { createSepaChecks, sepaCheckOf } from '../payments/sepa-checks.js'
import { createPayoutReturns } from '../payouts/payout-returns.js'
import { createPayoutRuns } from '../payouts/payout-runs.js'
import { createPayoutReads } from '../payouts/reads.js'
import { createLedger } from '../ledger/ledger.js'
import { createRetirementControls } from '../registry/retirement.js'
import type { SqlDatabase } from '../sql/database.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { createUsersStore } from '../users-payments/store.js'
import { openPgConnection } from './connection.js'
import { translatePlaceholders } from './placeholders.js'
import { createPgSqlDatabase } from './sql-database.js'

const filePostgres = await postgresForFile(t)
if (filePostgres !== undefined) {
  const { server } = filePostgres

  t.test('PostgreSQL parses and plans every statement the modules prepare', async (t) => {
    const connection = openPgConnection({ url: server.createDatabase('statements') })
    t.teardown(() => connection.close())
    const pg = createPgSqlDatabase(connection)
    const prepared = new Set<string>()
    // The facade as it is (its brand included, so the modules migrate the PostgreSQL schema), noting each statement.
    const db: SqlDatabase = { ...pg, prepare: ((source: string) => (prepared.add(source), pg.prepare(source))) as SqlDatabase['prepare'] }
    const logger = pino({ level: 'silent' })
    const clock = { now: () => 1_750_000_000_000 }
    // The modules keep their dependencies for later: being made, they call none of them.
    const unused = {} as never
    const provider = { name: 'sim' } as PaymentProvider

    const refunds = createCardRefunds({ db, ledger: unused, providers: {}, currency: 'EUR', clock, logger })
    createRefundRuns({ db, ledger: unused, refunds, clock, logger, allowedCountryCodes: () => null })
    createDisputeService({ db, ledger: unused, client: unused, provider: 'sim', clock, logger })
    createReconciliation({ db, ledger: unused, client: unused, provider: 'sim', currency: 'EUR', clock, logger })
    createSepaChecks({ db, client: unused, clock, logger })
    t.equal(sepaCheckOf(db)('04A1', { iban: 'DE02120300000000202051', accountName: 'Ann' } as Parameters<ReturnType<typeof sepaCheckOf>>[1]), undefined)
    createOnlineTopups({ db, ledger: unused, providers: { sim: provider }, defaultProvider: 'sim', currency: 'EUR', clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' })
    openTopupCounts(db)
    createPayoutRuns({ db, ledger: unused, clock, logger, allowedCountryCodes: () => null })
    createPayoutReturns({ db, clock })
    createPayoutReads(db)
    createBankImportJobs({ db, ledger: unused, transferCodes: createTransferCodes({ db, clock }), clock, logger, currency: 'EUR' })
    createUsersStore(db)
    // The ledger's registry (kiosks, wristbands, PINs, the tag policy and SUN counters) prepares through the facade too.
    createLedger({ db, clock, logger })
    const retirement = createRetirementControls(db)
    t.same(retirement.retiredKiosks(), [])
    t.same(retirement.retiredWristbands(), [])

    const refused: string[] = []
    let n = 0
    for (const source of prepared) {
      try {
        connection.query(`PREPARE module_statement_${++n} AS ${translatePlaceholders(source).text}`)
      } catch (error) {
        refused.push(`${(error as Error).message.split('\n')[0]}: ${source.replace(/\s+/g, ' ').trim()}`)
      }
    }
    t.ok(prepared.size > 100, `${prepared.size} statements prepared`)
    t.same(refused, [], 'PostgreSQL refuses none of them')
  })
}
