// Ingest on one of several gateways sharing a PostgreSQL database: a kiosk key
// enrolled through another gateway rules this gateway's signature checks from
// its next turn on, not only its next batch (the registry caches keys).
import t from 'tap'
import type { ReplyMessage } from '../device-protocol/index.js'
import { createIngest } from './ingest.js'
import { createLedger } from './ledger/ledger.js'
import { SigningKiosk, UID, fixedClock, makeKioskKeys, silentLogger, testSetup } from './ledger/testing/test-helpers.js'
import { sqlEngines } from './testing/sql-engines.js'

const postgres = (await sqlEngines(t)).find((engine) => engine.name === 'postgres')

t.test('a key enrolled on another gateway rules this gateway\'s next signature check', { skip: postgres?.openShared === undefined ? 'PostgreSQL 15 server binaries not installed (CI installs them)' : false }, async (t) => {
  const [dbA, dbB] = postgres!.openShared!(t, 2)
  const clock = fixedClock()
  const oldKeys = makeKioskKeys()
  const cash = new SigningKiosk('cash-1')
  const bar = new SigningKiosk('bar-1', oldKeys)
  const gatewayA = createLedger({ db: dbA!, clock, logger: silentLogger })
  gatewayA.registry.importEventSetup(testSetup({ 'bar-1': oldKeys, 'cash-1': cash.keys }))
  const gatewayB = createLedger({ db: dbB!, clock, logger: silentLogger })
  const replies: ReplyMessage[] = []
  const ingest = createIngest({ ledger: gatewayB, logger: silentLogger, clock, publishReply: (_kiosk, message) => void replies.push(message), publishEvent: () => {} })
  t.teardown(() => ingest.drain())
  const send = async (kioskId: string, envelope: unknown) => {
    ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
    await ingest.settled()
    return replies.at(-1)
  }

  t.match(await send('cash-1', cash.topup(UID.alice, 2_000)), { kind: 'result', status: 'accepted' })
  t.match(await send('bar-1', bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])), { kind: 'result', status: 'accepted' }, "B has the bar's key in memory now")

  // The bar is re-imaged and enrolled with a new key through gateway A.
  const newKeys = makeKioskKeys()
  gatewayA.registry.enrollKiosk('bar-1', newKeys.publicKeyBase64Url)
  const rekeyed = new SigningKiosk('bar-1', newKeys)
  rekeyed.history.push(...bar.history)

  const forged = bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(await send('bar-1', forged), { kind: 'result', status: 'rejected', reason: 'bad_signature' }, 'the old key no longer signs for the bar on B')
  t.equal(gatewayB.transaction(forged.tx.id), undefined)
  const genuine = rekeyed.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(await send('bar-1', genuine), { kind: 'result', status: 'accepted' }, 'the new key does')
  t.equal(gatewayB.balanceOf(UID.alice), 2_000 - 900)
})
