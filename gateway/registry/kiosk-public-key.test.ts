// Kiosk keys the gateway refuses: anything that is not a canonical Ed25519
// point of the prime-order subgroup. The weak encodings below are the
// small-order points every Ed25519 implementation should reject (libsodium
// keeps the same list), each as the 32 bytes of its encoding.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519'
import { publicKeyToBase64Url } from '../../device-protocol/index.js'
import { KioskKeyError, parseKioskPublicKey } from './kiosk-public-key.js'

const hex = (h: string) => Buffer.from(h, 'hex').toString('base64url')
const honest = () => publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey)

const SMALL_ORDER: Array<[string, string]> = [
  ['all zero: y = 0 (order 4)', '0000000000000000000000000000000000000000000000000000000000000000'],
  ['the identity: y = 1 (order 1)', '0100000000000000000000000000000000000000000000000000000000000000'],
  ['y = p - 1 (order 2)', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
  ['an order-8 point', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'],
  ['the other order-8 point', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'],
  ['the order-8 point with the sign bit set', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85'],
]

t.test('an honest kiosk key is taken, as the same key', async (t) => {
  for (let i = 0; i < 20; i++) {
    const key = honest()
    t.equal(publicKeyToBase64Url(parseKioskPublicKey(key)), key)
  }
})

t.test('points of small order are refused as weak', async (t) => {
  for (const [what, bytes] of SMALL_ORDER) {
    t.throws(() => parseKioskPublicKey(hex(bytes)), { name: 'KioskKeyError', message: /weak Ed25519 key|canonical/ }, what)
  }
})

t.test('an honest key plus a small-order component is refused as weak', async (t) => {
  const honestPoint = ed25519.ExtendedPoint.fromHex(Buffer.from(honest(), 'base64url'))
  const torsion = ed25519.ExtendedPoint.fromHex(SMALL_ORDER[3]![1])
  const mixed = Buffer.from(honestPoint.add(torsion).toRawBytes()).toString('base64url')
  t.throws(() => parseKioskPublicKey(mixed), { name: 'KioskKeyError', message: /small-order component/ })
})

t.test('non-canonical encodings, off-curve bytes and malformed text are refused, never quoted', async (t) => {
  const cases: Array<[string, string]> = [
    ['y = p, which encodes 0 again', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
    ['y = p + 1, which encodes 1 again', hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
    ['not on the curve', hex('0200000000000000000000000000000000000000000000000000000000000000')],
    ['43 characters whose last one carries extra bits', honest().slice(0, 42) + '_'],
    ['too short', honest().slice(1)],
    ['standard base64', '+'.repeat(43)],
    ['empty', ''],
  ]
  for (const [what, key] of cases) {
    try {
      parseKioskPublicKey(key)
      t.fail(`${what}: taken`)
    } catch (err) {
      t.ok(err instanceof KioskKeyError, `${what}: ${(err as Error).message}`)
      if (key.length > 0) t.notMatch((err as Error).message, key, `${what}: the key is not quoted`)
    }
  }
})
