// SEPA checks' records on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts): the module on a bare
// database and a scripted provider; sepa-checks.test.ts tests it through the portal and the provider simulator.
import t from 'tap'
import { fixedClock, silentLogger } from '../ledger/testing/test-helpers.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { SqlDatabase } from '../sql/database.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { createSepaChecks, sepaCheckOf } from './sepa-checks.js'
import type { StancerClient, StancerSepaCheck } from './stancer-client.js'

const engines = await sqlEngines(t)

/** A provider whose checks answer what `scores` says for the holder's name (null: still pending); it counts the checks it made. */
function scriptedProvider(scores: Map<string, number | null>): Pick<StancerClient, 'createSepaCheck' | 'getSepaCheck'> & { made: number } {
  const names = new Map<string, string>()
  const provider = {
    made: 0,
    async createSepaCheck(input: { person?: { name: string } }) {
      const id = `chck_${++provider.made}`
      names.set(id, input.person!.name)
      return { id }
    },
    async getSepaCheck(id: string): Promise<StancerSepaCheck> {
      const name = names.get(id)!
      const score = scores.get(name) ?? null
      return { id, status: score === null ? 'pending' : 'succeeded', check_type: 'person', person: { name, score_name: score }, company: null, created: 1 }
    },
  }
  return provider
}

function saveGuest(db: SqlDatabase, uid: string, iban: string, name: string): void {
  db.prepare(
    `INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, ?, ?, 'guest@example.org', 1)
     ON CONFLICT (uid) DO UPDATE SET iban = excluded.iban, account_name = excluded.account_name`,
  ).run(uid, iban, name)
}

const IBAN = 'DE89370400440532013000'

for (const engine of engines) {
  t.test(`${engine.name}: a check is queued, asked, kept with its score, and asked again when the data changes`, async (t) => {
    const db = engine.open(t)
    migrateGatewayDatabase(db)
    const clock = fixedClock()
    const scores = new Map<string, number | null>([['Alice Liddell', 0.93], ['A. Stranger', 0.1], ['Bob Pending', null]])
    const provider = scriptedProvider(scores)
    const checks = createSepaChecks({ db, client: provider, clock, logger: silentLogger, retryMs: 1000 })
    saveGuest(db, '04A1', IBAN, 'Alice Liddell')
    saveGuest(db, '04B2', 'AT611904300234573201', 'Bob Pending')
    t.equal(checks.requested('04A1'), 'queued')
    t.equal(checks.queueUnchecked(), 1, "bob's data, saved without a request, is queued at start")
    await checks.runDue()
    t.match(checks.status('04A1'), { state: 'matched', score: 0.93, completedAt: clock.now() }, 'a fraction of a score is kept as it came')
    t.match(checks.status('04B2'), { state: 'pending', score: null })
    t.same(sepaCheckOf(db)('04A1', { iban: IBAN, accountName: 'Alice Liddell' })?.state, 'matched')

    scores.set('Bob Pending', 0.75)
    clock.advance(1000)
    await checks.runDue()
    t.match(checks.status('04B2'), { state: 'matched', score: 0.75 }, 'a pending check is read again once due')
    t.equal(provider.made, 2, 'and not made again')

    saveGuest(db, '04A1', IBAN, 'A. Stranger')
    t.equal(sepaCheckOf(db)('04A1', { iban: IBAN, accountName: 'A. Stranger' }), undefined, 'the old check is not about the new data')
    t.equal(checks.requested('04A1'), 'queued')
    await checks.runDue()
    t.match(checks.status('04A1'), { state: 'mismatch', score: 0.1 })
    t.equal(provider.made, 3)
  })
}
