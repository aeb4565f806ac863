import t from 'tap'
import { verifySun } from '../device-protocol/ntag424/sun.js'
import { createSimulatedNtag424 } from './ntag424-tag.js'

const ZERO = Buffer.alloc(16)

t.test('with the AN12196 keys, UID, counter and padding it mirrors the note\'s SUN message', async (t) => {
  const tag = createSimulatedNtag424({ uid: '04de5f1eacc040', metaReadKey: ZERO, fileReadKey: ZERO, counter: 60, random: () => Buffer.from('DA5CF60941', 'hex') })
  t.same(tag.read(), { piccData: 'EF963FF7828658A599F3041510671E88', cmac: '94EED9EE65337086' })
  t.equal(tag.counter, 61)
  t.equal(tag.uid, '04DE5F1EACC040')
})

t.test('every read counts up and verifies with the tag\'s keys only', async (t) => {
  const meta = Buffer.alloc(16, 0x5a)
  const file = Buffer.alloc(16, 0xa5)
  const tag = createSimulatedNtag424({ uid: '04A1B2C3D4E5F6', metaReadKey: meta, fileReadKey: file })
  const first = tag.read()
  const second = tag.read()
  t.not(first.piccData, second.piccData, 'fresh PICC data per read')
  t.same(verifySun(first, { metaReadKey: meta, fileReadKeyFor: () => file }), { ok: true, uid: '04A1B2C3D4E5F6', counter: 1 })
  t.same(verifySun(second, { metaReadKey: meta, fileReadKeyFor: () => file }), { ok: true, uid: '04A1B2C3D4E5F6', counter: 2 })
  t.match(verifySun(second, { metaReadKey: meta, fileReadKeyFor: () => ZERO }), { ok: false })
})

t.test('bad construction and an exhausted counter are refused', async (t) => {
  t.throws(() => createSimulatedNtag424({ uid: '04A1B2C3', metaReadKey: ZERO, fileReadKey: ZERO }), RangeError)
  const tag = createSimulatedNtag424({ uid: '04A1B2C3D4E5F6', metaReadKey: ZERO, fileReadKey: ZERO, counter: 0xffffff })
  t.throws(() => tag.read(), /exhausted/)
  t.equal(tag.counter, 0xffffff)
})
