// The demo's event set-up is what a new user sees first: it must be a valid
// set-up, and the portal it serves must have FAQ and terms pages to show.
import t from 'tap'
import { pino } from 'pino'
import { parseEventSetup } from '../../gateway/event-setup.js'
import { createLedger, openLedgerDatabase } from '../../gateway/ledger/index.js'
import { createPortalBackend } from '../../gateway/portal-backend.js'
import { fakeTopups } from '../../portal-api/testing/helpers.js'
import { systemClock } from '../../device-protocol/index.js'
import { demoEvent, demoKiosks } from './demo-event.js'

t.test('the demo event is a valid set-up whose portal serves FAQ and terms texts in English and German', async (t) => {
  const { setup } = demoEvent(demoKiosks(4), 12)
  const parsed = parseEventSetup(JSON.parse(JSON.stringify(setup)))
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const logger = pino({ level: 'silent' })
  const ledger = createLedger({ db, clock: systemClock, logger })
  ledger.registry.importEventSetup(parsed)
  const backend = createPortalBackend({ db, ledger, clock: systemClock, logger, eventConfig: { allowedCountryCodes: null, contactEmail: 'demo@example.org' }, topups: fakeTopups() })
  const texts = (await backend.config()).translationTexts
  t.same(Object.keys(texts).sort(), ['de-DE', 'en-US'])
  for (const language of ['en-US', 'de-DE']) {
    for (const key of ['faq', 'agb']) t.match(texts[language]?.[key], /^## \S.{20,}/s, `${language} ${key}`)
  }
})
