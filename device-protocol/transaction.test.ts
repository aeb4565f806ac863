import t from 'tap'
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import {
  canonicalBytes,
  canonicalEnvelopeBytes,
  canonicalText,
  envelopeHash,
  linesTotal,
  publicKeyFromBase64Url,
  publicKeyToBase64Url,
  signTransaction,
  validateEnvelope,
  verifyEnvelope,
  verifyEnvelopeAsync,
  type Envelope,
} from './transaction.js'
import {
  RFC8032_TEST1,
  rfc8032TestKey,
  SALE_VECTOR,
  SALE_VECTOR_ENVELOPE_HASH,
  SALE_VECTOR_SIGNATURE,
} from './transaction-vectors.js'

const key = rfc8032TestKey()
const publicKey = createPublicKey(key)

t.test('the test key is RFC 8032 test 1: its signature of the empty message matches the RFC', async (t) => {
  t.equal(sign(null, Buffer.alloc(0), key).toString('hex'), RFC8032_TEST1.emptyMessageSignatureHex)
  t.equal(Buffer.from(publicKeyToBase64Url(publicKey), 'base64url').toString('hex'), RFC8032_TEST1.publicKeyHex)
})

t.test('canonical bytes are RFC 8785 whatever the key order', async (t) => {
  t.equal(canonicalBytes(SALE_VECTOR.tx).toString('utf8'), SALE_VECTOR.canonical)
  const shuffled = Object.fromEntries(Object.entries(SALE_VECTOR.tx).reverse())
  t.equal(canonicalBytes(shuffled).toString('utf8'), SALE_VECTOR.canonical)
})

t.test('signing the sale vector gives the known signature and envelope hash', async (t) => {
  const envelope = signTransaction(SALE_VECTOR.tx, key)
  t.equal(envelope.sig, SALE_VECTOR_SIGNATURE)
  t.equal(envelopeHash(envelope), SALE_VECTOR_ENVELOPE_HASH)
  t.ok(validateEnvelope(envelope).ok)
  t.ok(verifyEnvelope(envelope, publicKey))
  t.ok(await verifyEnvelopeAsync(envelope, publicKey))
})

t.test('any change to a signed transaction breaks the signature', async (t) => {
  const envelope = signTransaction(SALE_VECTOR.tx, key)
  const tampered: Envelope[] = [
    { ...envelope, tx: { ...envelope.tx, amount: 1 } },
    { ...envelope, tx: { ...envelope.tx, seq: 2 } },
    { ...envelope, tx: { ...envelope.tx, tag: { ...envelope.tx.tag, uid: '04A1B2C3D4E5F7' } } },
    { ...envelope, tx: { ...envelope.tx, lines: [] } },
  ]
  for (const e of tampered) {
    t.notOk(verifyEnvelope(e, publicKey))
    t.notOk(await verifyEnvelopeAsync(e, publicKey))
  }
  const otherKey = generateKeyPairSync('ed25519').publicKey
  t.notOk(verifyEnvelope(envelope, otherKey), 'another kiosk key does not verify it')
  const badSig = { ...envelope, sig: Buffer.alloc(64, 7).toString('base64') }
  t.notOk(await verifyEnvelopeAsync(badSig, publicKey))
})

t.test('an envelope canonicalised from its transaction\'s canonical text is byte for byte canonicalBytes(envelope)', async (t) => {
  const envelope = signTransaction(SALE_VECTOR.tx, key)
  const txText = canonicalText(envelope.tx)
  t.equal(txText, canonicalBytes(envelope.tx).toString('utf8'))
  t.same(canonicalEnvelopeBytes(envelope, txText), canonicalBytes(envelope))
  t.equal(canonicalEnvelopeBytes(envelope, txText).toString('hex'), canonicalBytes(envelope).toString('hex'))
  // Keys in any order, non-ASCII text and numbers that JCS writes its own way.
  const odd = { amount: 1e21, tag: { uid: '04A1B2', type: 'ntag215' }, note: 'Bier \u00fc \u2028 "quoted" \\ \ud83c\udf7a', zero: -0 }
  const oddEnvelope = { tx: odd, sig: envelope.sig } as unknown as Envelope
  t.same(canonicalEnvelopeBytes(oddEnvelope, canonicalText(odd as never)), canonicalBytes(oddEnvelope))
  t.same(canonicalEnvelopeBytes(envelope), canonicalBytes(envelope), 'without the text: canonicalBytes itself')
  t.ok(await verifyEnvelopeAsync(envelope, publicKey, txText), 'the signature check takes the text too')
  t.notOk(await verifyEnvelopeAsync(envelope, publicKey, canonicalText({ ...envelope.tx, amount: envelope.tx.amount + 1 })), 'and checks the text it is given')
})

t.test('the hash chain: prev names the previous envelope', async (t) => {
  const first = signTransaction(SALE_VECTOR.tx, key)
  const second = signTransaction({ ...SALE_VECTOR.tx, id: '01936f0e-7c00-7000-8000-000000000002', seq: 2, prev: envelopeHash(first) }, key)
  t.equal(second.tx.prev, SALE_VECTOR_ENVELOPE_HASH)
  t.not(envelopeHash(second), envelopeHash(first))
})

t.test('public keys travel as base64url raw bytes', async (t) => {
  const { publicKey: pk } = generateKeyPairSync('ed25519')
  const x = publicKeyToBase64Url(pk)
  t.equal(Buffer.from(x, 'base64url').length, 32)
  t.same(publicKeyFromBase64Url(x).export({ format: 'jwk' }), pk.export({ format: 'jwk' }))
  t.throws(() => publicKeyFromBase64Url('not-a-key'))
  t.throws(() => publicKeyToBase64Url(generateKeyPairSync('x25519').publicKey))
})

t.test('the envelope schema refuses hostile and malformed transactions', async (t) => {
  const good = signTransaction(SALE_VECTOR.tx, key)
  const bad: Array<[string, unknown]> = [
    ['not an object', 'hello'],
    ['null', null],
    ['missing sig', { tx: good.tx }],
    ['extra top-level key', { ...good, extra: 1 }],
    ['extra tx key', { ...good, tx: { ...good.tx, admin: true } }],
    ['float amount', { ...good, tx: { ...good.tx, amount: 11.5 } }],
    ['negative amount', { ...good, tx: { ...good.tx, amount: -1 } }],
    ['amount above the maximum', { ...good, tx: { ...good.tx, amount: 1e12 } }],
    ['string amount', { ...good, tx: { ...good.tx, amount: '1150' } }],
    ['seq zero', { ...good, tx: { ...good.tx, seq: 0 } }],
    ['lower-case uid', { ...good, tx: { ...good.tx, tag: { uid: '04a1b2c3', type: 'x' } } }],
    ['unknown type', { ...good, tx: { ...good.tx, type: 'refund_everything' } }],
    ['kiosk id with a slash', { ...good, tx: { ...good.tx, kiosk: 'bar/1' } }],
    ['kiosk id with a wildcard', { ...good, tx: { ...good.tx, kiosk: '+' } }],
    ['prev not a hash', { ...good, tx: { ...good.tx, prev: 'x' } }],
    ['short signature', { ...good, sig: 'AAAA' }],
    ['too many lines', { ...good, tx: { ...good.tx, lines: Array.from({ length: 101 }, () => ({ product: 'p', qty: 1, unitPrice: 1 })) } }],
    ['__proto__ key', JSON.parse(`{"tx":${JSON.stringify(good.tx)},"sig":"${good.sig}","__proto__":{"polluted":1}}`)],
  ]
  for (const [name, value] of bad) {
    const result = validateEnvelope(value)
    t.notOk(result.ok, name)
    if (!result.ok) t.match(result.error, /\S/, `${name} has a readable error`)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
})

t.test('linesTotal sums quantity times unit price in cents', async (t) => {
  t.equal(linesTotal(SALE_VECTOR.tx.lines), 1150)
  t.equal(linesTotal([]), 0)
})
