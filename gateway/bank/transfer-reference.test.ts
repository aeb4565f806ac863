import t from 'tap'
import { CODE_ALPHABET, CODE_LENGTH, creditorReference, isValidCreditorReference, mod97, newTransferCode, transferCodesIn, transferReferenceOf } from './transfer-reference.js'

t.test('ISO 11649 and IBAN test vectors', async (t) => {
  // ISO 11649's own example, and a well-known short one.
  t.equal(creditorReference('539007547034'), 'RF18539007547034')
  t.equal(creditorReference('2348231'), 'RF712348231')
  t.ok(isValidCreditorReference('RF18 5390 0754 7034'))
  t.ok(isValidCreditorReference('rf712348231'))
  // The same MOD 97-10 as IBANs: GB82 WEST 1234 5698 7654 32 rearranged leaves 1.
  t.equal(mod97('WEST12345698765432GB82'), 1)
  t.throws(() => mod97('abc'), /upper-case/)
  t.throws(() => creditorReference('toolong-0123456789012345'), /1\.\.21/)
})

t.test('malformed references are not valid', async (t) => {
  for (const bad of ['', 'RF', 'RF18', 'RF1853900754703', 'RF185390075470344', 'XX18539007547034', 'RF18 5390 0754 703!', 'RF1A539007547034'])
    t.notOk(isValidCreditorReference(bad), JSON.stringify(bad))
})

t.test('every single-character typo and every neighbour swap of a code is caught', async (t) => {
  let draws = 0
  const code = newTransferCode((max) => (draws++ * 7) % max)
  t.equal(code.length, CODE_LENGTH)
  const { compact } = transferReferenceOf(code)
  t.ok(isValidCreditorReference(compact))
  let checked = 0
  for (let i = 2; i < compact.length; i++) {
    for (const c of `${CODE_ALPHABET}0123456789IO`) {
      if (c === compact[i]) continue
      const typo = compact.slice(0, i) + c + compact.slice(i + 1)
      t.notOk(isValidCreditorReference(typo) && transferCodesIn(typo).includes(code), `typo at ${i}`)
      if (isValidCreditorReference(typo)) t.fail(`typo ${typo} passes the check`)
      checked++
    }
    if (i + 1 < compact.length && compact[i] !== compact[i + 1]) {
      const swapped = compact.slice(0, i) + compact[i + 1] + compact[i] + compact.slice(i + 2)
      t.notOk(isValidCreditorReference(swapped), `swap at ${i}`)
    }
  }
  t.ok(checked > 300)
})

t.test('codes are found in the free text of a transfer', async (t) => {
  const a = transferReferenceOf('ABCDEFGH')
  const b = transferReferenceOf('ZZZZ2345')
  t.equal(a.display, `${a.compact.slice(0, 4)} ABCD EFGH`)
  t.same(transferCodesIn(`GUTSCHRIFT\r\n${a.display}\r\nEREF: NOTPROVIDED`), ['ABCDEFGH'])
  t.same(transferCodesIn(`topup ${a.compact.toLowerCase()} and ${b.display}`), ['ABCDEFGH', 'ZZZZ2345'])
  t.same(transferCodesIn(`${a.compact}-${a.compact}`), ['ABCDEFGH'], 'once')
  t.same(transferCodesIn('RF18539007547034'), [], 'an RF reference of another length is not ours')
  const broken = a.compact.slice(0, 5) + (a.compact[5] === 'X' ? 'Y' : 'X') + a.compact.slice(6)
  t.same(transferCodesIn(broken), [], 'a typo matches nothing')
  t.same(transferCodesIn(''), [])
  t.same(transferCodesIn('RF'.repeat(100_000)), [], 'long junk is fine')
})
