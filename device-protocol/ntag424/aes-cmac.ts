// AES-CMAC (RFC 4493, NIST SP 800-38B) on node:crypto's AES.
//
// Node has no CMAC of its own. The npm packages were weighed: `aes-cmac` is
// asynchronous (WebCrypto, one await per block), which cannot run inside the
// ledger's synchronous SQLite transaction, and `node-aes-cmac` is unmaintained
// and uses the deprecated Buffer constructor. CMAC is a few lines on top of
// AES-CBC, and aes-cmac.test.ts pins it to RFC 4493's vectors.
import { createCipheriv } from 'node:crypto'

const BLOCK_BYTES = 16
const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES)

function cipherName(key: Uint8Array): string {
  if (key.length === 16) return 'aes-128-cbc'
  if (key.length === 24) return 'aes-192-cbc'
  if (key.length === 32) return 'aes-256-cbc'
  throw new RangeError(`an AES key is 16, 24 or 32 bytes, got ${key.length}`)
}

/** AES-CBC with a zero IV and no padding; `data` is a whole number of blocks. */
function cbcEncrypt(key: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv(cipherName(key), key, ZERO_BLOCK)
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(data), cipher.final()])
}

/** The doubling in GF(2^128) of RFC 4493's subkey generation: shift left by one bit, xor 0x87 on carry. */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK_BYTES)
  for (let i = 0; i < BLOCK_BYTES; i++) out[i] = ((block[i]! << 1) | (i + 1 < BLOCK_BYTES ? block[i + 1]! >> 7 : 0)) & 0xff
  if (block[0]! & 0x80) out[BLOCK_BYTES - 1]! ^= 0x87
  return out
}

/** The 16-byte AES-CMAC of `message` under `key` (16, 24 or 32 bytes). */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const k1 = double(cbcEncrypt(key, ZERO_BLOCK))
  const k2 = double(k1)
  const complete = message.length > 0 && message.length % BLOCK_BYTES === 0
  const lastStart = complete ? message.length - BLOCK_BYTES : message.length - (message.length % BLOCK_BYTES)
  const last = Buffer.alloc(BLOCK_BYTES)
  Buffer.from(message.subarray(lastStart)).copy(last)
  if (!complete) last[message.length - lastStart] = 0x80
  const subkey = complete ? k1 : k2
  for (let i = 0; i < BLOCK_BYTES; i++) last[i]! ^= subkey[i]!
  // CBC-MAC over the whole message with the last block masked: the last cipher block is the tag.
  const chained = cbcEncrypt(key, Buffer.concat([message.subarray(0, lastStart), last]))
  return chained.subarray(chained.length - BLOCK_BYTES)
}
