import t from 'tap'
import { parseKioskTopic, topics } from './topics.js'

t.test('kiosk topics round-trip through the parser', async (t) => {
  t.same(parseKioskTopic(topics.kioskTx('bar-1')), { kioskId: 'bar-1', kind: 'tx' })
  t.same(parseKioskTopic(topics.kioskReply('bar-1')), { kioskId: 'bar-1', kind: 'reply' })
})

t.test('foreign, wildcard and malformed topics are not kiosk topics', async (t) => {
  for (const topic of ['wristpay/v1/kiosk/+/tx', 'wristpay/v1/kiosk/#', 'wristpay/v2/kiosk/a/tx', 'wristpay/v1/kiosk/a/tx/x', 'wristpay/v1/kiosk/a/evil', 'wristpay/v1/kiosk//tx', ''])
    t.equal(parseKioskTopic(topic), null, topic)
})
