import t from 'tap'
import { GENESIS_HASH } from '../../device-protocol/index.js'
import { createMemoryLedgerStore } from './memory-store.js'
import { storeContract } from './testing/store-contract.js'

storeContract(t, 'memory store', () => ({ store: createMemoryLedgerStore(), close: () => {} }))

// The SQLite store's cursors are the registry's kiosk rows, there from enrolment; here ensureKiosk makes them.
t.test('memory store: a kiosk has no cursor until ensureKiosk starts its chain', (t) => {
  const store = createMemoryLedgerStore()
  t.equal(store.cursor('bar-1'), undefined)
  store.ensureKiosk('bar-1')
  t.strictSame(store.cursor('bar-1'), { nextSeq: 1, lastHash: GENESIS_HASH })
  t.end()
})
