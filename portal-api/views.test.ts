import t from 'tap'
import { containedTaxCents, uidAsInteger } from './views.js'

t.test('tag uids become integers only when exact', async (t) => {
  t.equal(uidAsInteger('04A1B2C3'), 0x04a1b2c3)
  t.equal(uidAsInteger('04A1B2C3D4E5F6'), 0x04a1b2c3d4e5f6)
  t.equal(uidAsInteger('1FFFFFFFFFFFFF'), Number.MAX_SAFE_INTEGER)
  t.equal(uidAsInteger('20000000000000'), null, '2^53 is not exact')
  t.equal(uidAsInteger('04A1B2C3D4E5F60718'), null, '10-byte UID')
  t.equal(uidAsInteger('not hex'), null)
})

t.test('tax contained in a gross price, to the cent', async (t) => {
  t.equal(containedTaxCents(900, 1900), 144)
  t.equal(containedTaxCents(119, 1900), 19)
  t.equal(containedTaxCents(107, 700), 7)
  t.equal(containedTaxCents(1000, 0), 0)
})
