// Wristbands' bank transfer codes on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts), on a bare database.
import t from 'tap'
import { fixedClock } from '../ledger/testing/test-helpers.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { createTransferCodes } from './transfer-codes.js'
import { transferReferenceOf } from './transfer-reference.js'

const engines = await sqlEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a wristband's code is drawn once, a code another band holds is drawn again, and a code finds its band`, async (t) => {
    const db = engine.open(t)
    const draws = ['ABCDEFGH', 'ABCDEFGH', 'ZZZZ2345']
    const codes = createTransferCodes({ db, clock: fixedClock(), drawCode: () => draws.shift() ?? 'NEVERMORE' })
    t.same(codes.referenceOf('04A1'), transferReferenceOf('ABCDEFGH'))
    t.same(codes.referenceOf('04A1'), transferReferenceOf('ABCDEFGH'), 'kept, not drawn again')
    t.same(codes.referenceOf('04B2'), transferReferenceOf('ZZZZ2345'), "alice's code was drawn for bob too: he gets the next draw")
    t.same(draws, [])
    t.equal(codes.uidOfCode('ZZZZ2345'), '04B2')
    t.equal(codes.uidOfCode('QQQQ2345'), undefined)
  })
}
