import t from 'tap'
import { aesCmac } from './aes-cmac.js'

// RFC 4493 section 4, AES-128 key 2b7e1516 28aed2a6 abf71588 09cf4f3c.
const KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex')
const M = Buffer.from(
  '6bc1bee22e409f96e93d7e117393172a' + 'ae2d8a571e03ac9c9eb76fac45af8e51' + '30c81c46a35ce411e5fbc1191a0a52ef' + 'f69f2445df4f9b17ad2b417be66c3710',
  'hex',
)

t.test('RFC 4493 test vectors (empty, one block, 40 bytes, four blocks)', async (t) => {
  const cases: [number, string][] = [
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ]
  for (const [length, expected] of cases) t.equal(aesCmac(KEY, M.subarray(0, length)).toString('hex'), expected, `Mlen = ${length}`)
})

t.test('NIST SP 800-38B AES-256 example (empty message)', async (t) => {
  const key = Buffer.from('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 'hex')
  t.equal(aesCmac(key, Buffer.alloc(0)).toString('hex'), '028962f61b7bf89efc6b551f4667d983')
})

t.test('a key of the wrong size is refused', async (t) => {
  t.throws(() => aesCmac(Buffer.alloc(15), Buffer.alloc(0)), RangeError)
  t.throws(() => aesCmac(Buffer.alloc(0), Buffer.alloc(0)), RangeError)
})

t.test('any change of message or key changes the tag', async (t) => {
  const tag = aesCmac(KEY, M.subarray(0, 20))
  const flipped = Buffer.from(M.subarray(0, 20))
  flipped[19]! ^= 1
  t.not(aesCmac(KEY, flipped).toString('hex'), tag.toString('hex'))
  t.not(aesCmac(KEY, M.subarray(0, 21)).toString('hex'), tag.toString('hex'), 'a longer message')
  const otherKey = Buffer.from(KEY)
  otherKey[0]! ^= 1
  t.not(aesCmac(otherKey, M.subarray(0, 20)).toString('hex'), tag.toString('hex'))
})
