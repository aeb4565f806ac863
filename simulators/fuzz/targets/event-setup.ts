// Event set-up files: gateway/event-setup.ts's loadEventSetup (size, JSON,
// schema, cross references) on a file made from the demo event and the
// example event, damaged as values (wrong types, odd keys such as __proto__,
// deep nesting, huge arrays) or as text; and a set-up that passes is imported
// into a ledger that already holds bookings, as the gateway does at start and
// on reload. Oracle: loading either returns a set-up or throws EventSetupError;
// an import that fails leaves the ledger as it was; after any import the
// ledger's invariants hold and its money is where it was (an import moves none).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { EventSetupError, loadEventSetup } from '../../../gateway/event-setup.js'
import { UID, makeWorld, verified } from '../../../gateway/ledger/testing/test-helpers.js'
import { watchLedger } from '../ledger-watch.js'
import { mutatedJson, mutatedText, type Json } from '../mutate.js'
import { expect, type FuzzTarget, type Verdict } from '../target.js'

const FIXTURES = new URL('../../../gateway/fixtures/', import.meta.url)
const SAMPLE_TEXTS = ['demo-event.json', 'example-event.json'].map((name) => readFileSync(new URL(name, FIXTURES), 'utf8'))
const SAMPLES = SAMPLE_TEXTS.map((text) => JSON.parse(text) as Json)

const arbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: mutatedJson(SAMPLES).map((value) => JSON.stringify(value)) },
  { weight: 3, arbitrary: mutatedText(SAMPLE_TEXTS) },
  { weight: 1, arbitrary: fc.oneof(fc.json(), fc.string({ maxLength: 200 })) },
)

/** The money alone (a new booth shows up with 0 revenue: not a change). */
function money(world: ReturnType<typeof makeWorld>): string {
  const stats = world.ledger.stats()
  return JSON.stringify({ sum: world.ledger.sumOfAllBalances(), customer: stats.customerBalances, accepted: stats.accepted, revenue: Object.entries(stats.revenueByBooth).filter(([, cents]) => cents !== 0) })
}

export const eventSetupTarget: FuzzTarget<string> = {
  name: 'event-setup',
  description: 'event set-up files (schema and cross references) and their import into a ledger that holds bookings',
  ciCount: 60,
  create() {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-fuzz-setup-'))
    const file = join(dir, 'event.json')
    const world = makeWorld()
    // Bookings the imports must leave alone.
    world.ledger.applyBatch([verified(world.kiosks.cash.topup(UID.alice, 2000))])
    world.ledger.applyBatch([verified(world.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
    const watch = watchLedger(world.ledger, world.db)
    return {
      arbitrary,
      synchronous: true,
      run(text): Verdict {
        writeFileSync(file, text)
        let setup
        try {
          setup = loadEventSetup(file)
        } catch (err) {
          expect(err instanceof EventSetupError, `loadEventSetup threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} instead of an EventSetupError`)
          return 'refused'
        }
        const before = watch.snapshot()
        const moneyBefore = money(world)
        try {
          world.ledger.registry.importEventSetup(setup)
        } catch (err) {
          expect(!(err instanceof TypeError || err instanceof RangeError), `importing a validated set-up threw ${String(err)}`)
          expect(watch.snapshot() === before, 'a failed import changed the ledger')
          return 'refused'
        }
        watch.assertSound('after an import')
        const moneyAfter = money(world)
        expect(moneyAfter === moneyBefore, `an import moved money: ${moneyBefore} before, ${moneyAfter} after`)
        return 'accepted'
      },
      close() {
        world.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}
