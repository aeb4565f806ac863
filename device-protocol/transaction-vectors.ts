// Known-answer vectors for the transaction envelope. The key is RFC 8032's
// Ed25519 test key 1, so the signature of the empty message can be checked
// against the RFC, and our canonical bytes against a fixed string.
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { GENESIS_HASH, type Transaction } from './transaction.js'

export const RFC8032_TEST1 = {
  secretKeyHex: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKeyHex: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  /** Signature of the empty message (RFC 8032 section 7.1, TEST 1). */
  emptyMessageSignatureHex:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
} as const

export function rfc8032TestKey(): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(RFC8032_TEST1.secretKeyHex, 'hex').toString('base64url'),
      x: Buffer.from(RFC8032_TEST1.publicKeyHex, 'hex').toString('base64url'),
    },
    format: 'jwk',
  })
}

/** A kiosk's first sale: two beers and a water. */
export const SALE_VECTOR: { tx: Transaction; canonical: string } = {
  tx: {
    v: 1,
    id: '01936f0e-7c00-7000-8000-000000000001',
    kiosk: 'bar-1',
    seq: 1,
    prev: GENESIS_HASH,
    type: 'sale',
    tag: { uid: '04A1B2C3D4E5F6', type: 'ntag215' },
    lines: [
      { product: 'beer', qty: 2, unitPrice: 450 },
      { product: 'water', qty: 1, unitPrice: 250 },
    ],
    amount: 1150,
    at: 1780000000000,
  },
  // RFC 8785: keys sorted by UTF-16 code units, no whitespace, integers as is.
  canonical:
    '{"amount":1150,"at":1780000000000,"id":"01936f0e-7c00-7000-8000-000000000001","kiosk":"bar-1",' +
    '"lines":[{"product":"beer","qty":2,"unitPrice":450},{"product":"water","qty":1,"unitPrice":250}],' +
    '"prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,' +
    '"tag":{"type":"ntag215","uid":"04A1B2C3D4E5F6"},"type":"sale","v":1}',
}

/** SALE_VECTOR.tx signed with rfc8032TestKey() (Ed25519 is deterministic), and that envelope's hash. */
export const SALE_VECTOR_SIGNATURE =
  '5a5ASomA7/8n6aiuGBYDSTWSiCoz2EGtBNDWxq6QA7hzFtHA2kVm27kERXFy/TqtgK0dpehz4jrf63ybBq4AAg=='
export const SALE_VECTOR_ENVELOPE_HASH = '9df2d02018761a4f8763c82cb61b5f35783ed656374a718fc14cf7061d1d8bc6'
