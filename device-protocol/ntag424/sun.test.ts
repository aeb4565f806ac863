// The SUN checks against the worked examples of NXP AN12196 (all keys zero
// unless stated), so the gateway interoperates with real NTAG 424 DNA tags.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  MAX_SDM_READ_COUNTER,
  decryptPiccData,
  encryptPiccData,
  sdmMac,
  sessionMacKey,
  truncateMac,
  verifySun,
  type SunKeys,
} from './sun.js'

const hex = (s: string) => Buffer.from(s, 'hex')
const ZERO_KEY = Buffer.alloc(16)
const zeroKeys: SunKeys = { metaReadKey: ZERO_KEY, fileReadKeyFor: () => ZERO_KEY }

// AN12196, SUN message with encrypted PICC data and an empty MAC input:
// https://ntag.nxp.com/424?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086
const AN_PICC = 'EF963FF7828658A599F3041510671E88'
const AN_CMAC = '94EED9EE65337086'
const AN_UID = '04DE5F1EACC040'

t.test('AN12196: PICC data decryption (UID 04DE5F1EACC040, SDMReadCtr 3D0000 = 61)', async (t) => {
  const picc = decryptPiccData(ZERO_KEY, hex(AN_PICC))
  t.ok(picc)
  t.equal(picc!.piccDataTag, 0xc7)
  t.equal(picc!.uid.toString('hex').toUpperCase(), AN_UID)
  t.equal(picc!.counter, 61)
  // The plaintext the note gives is C7 04DE5F1EACC040 3D0000 DA5CF60941: encrypting it gives the same bytes back.
  t.equal(encryptPiccData(ZERO_KEY, hex(AN_UID), 61, hex('DA5CF60941')).toString('hex').toUpperCase(), AN_PICC)
})

t.test('AN12196: session MAC key and truncated SDMMAC', async (t) => {
  // SV2 = 3CC300010080 04DE5F1EACC040 3D0000
  t.equal(sessionMacKey(ZERO_KEY, hex(AN_UID), 61).toString('hex').toUpperCase(), '3FB5F6E3A807A03D5E3570ACE393776F')
  t.equal(sdmMac(ZERO_KEY, hex(AN_UID), 61).toString('hex').toUpperCase(), AN_CMAC)
  // SDM session key generation example: K_SDMFileRead 5ACE7E50..., UID 04C767F2066180, SV2 counter bytes 010000.
  t.equal(
    sessionMacKey(hex('5ACE7E50AB65D5D51FD5BF5A16B8205B'), hex('04C767F2066180'), 1).toString('hex').toUpperCase(),
    '3A3E8110E05311F7A3FCF0D969BF2B48',
  )
})

t.test('AN12196: the whole message verifies and yields UID and counter', async (t) => {
  t.same(verifySun({ piccData: AN_PICC, cmac: AN_CMAC }, zeroKeys), { ok: true, uid: AN_UID, counter: 61 })
  t.same(verifySun({ piccData: AN_PICC.toLowerCase(), cmac: AN_CMAC.toLowerCase() }, zeroKeys), { ok: true, uid: AN_UID, counter: 61 }, 'hex in any case')
})

t.test('AN12196: a MAC input between SDMMACInputOffset and SDMMACOffset (encrypted file data in the URL)', async (t) => {
  // ?picc_data=FD91EC264309878BE6345CBE53BADF40&enc=CEE9A53E3E463EF1F459635736738962&cmac=ECC1E7F6C6C73BF6
  const macInput = Buffer.from('CEE9A53E3E463EF1F459635736738962&cmac=', 'ascii')
  const message = { piccData: 'FD91EC264309878BE6345CBE53BADF40', cmac: 'ECC1E7F6C6C73BF6' }
  t.same(verifySun(message, zeroKeys, macInput), { ok: true, uid: '04958CAA5C5E80', counter: 8 })
  t.same(verifySun(message, zeroKeys), { ok: false, failure: 'bad_mac' }, 'the MAC covers the input: without it the message does not verify')
})

t.test('a cloned, altered or foreign message is refused', async (t) => {
  const flip = (h: string, i: number) => {
    const b = hex(h)
    b[i]! ^= 0x01
    return b.toString('hex').toUpperCase()
  }
  // A clone knows the UID (anyone can read it) but not the keys: it cannot make the MAC.
  t.same(verifySun({ piccData: AN_PICC, cmac: flip(AN_CMAC, 7) }, zeroKeys), { ok: false, failure: 'bad_mac' }, 'one bit of the MAC')
  t.same(verifySun({ piccData: AN_PICC, cmac: '0000000000000000' }, zeroKeys), { ok: false, failure: 'bad_mac' }, 'a made-up MAC')
  // Changing the ciphertext changes the whole plaintext block: the tag byte no longer reads C7 (or the MAC fails).
  t.match(verifySun({ piccData: flip(AN_PICC, 15), cmac: AN_CMAC }, zeroKeys), { ok: false, failure: /bad_picc_data|bad_mac/ })
  const otherKey = Buffer.alloc(16, 0x11)
  t.match(verifySun({ piccData: AN_PICC, cmac: AN_CMAC }, { metaReadKey: otherKey, fileReadKeyFor: () => ZERO_KEY }), { ok: false, failure: /bad_picc_data|bad_mac/ }, 'another meta read key')
  t.same(verifySun({ piccData: AN_PICC, cmac: AN_CMAC }, { metaReadKey: ZERO_KEY, fileReadKeyFor: () => otherKey }), { ok: false, failure: 'bad_mac' }, 'another file read key')
  t.same(verifySun({ piccData: AN_PICC, cmac: AN_CMAC }, { metaReadKey: ZERO_KEY, fileReadKeyFor: () => undefined }), { ok: false, failure: 'no_key' })
})

t.test('malformed messages are refused, never thrown on', async (t) => {
  const bad: unknown[] = [
    { piccData: AN_PICC.slice(2), cmac: AN_CMAC },
    { piccData: AN_PICC, cmac: AN_CMAC.slice(2) },
    { piccData: `${AN_PICC}00`, cmac: AN_CMAC },
    { piccData: 'ZZ' + AN_PICC.slice(2), cmac: AN_CMAC },
    // LRP mode: 8 random bytes + 16 bytes, not supported.
    { piccData: '07D9CA2545881D4BFDD920BE1603268C0714420DD893A497', cmac: 'F9481AC7D855BDB6' },
    { piccData: 42, cmac: AN_CMAC },
    { piccData: AN_PICC },
    null,
  ]
  for (const message of bad) t.same(verifySun(message as never, zeroKeys), { ok: false, failure: 'malformed' }, JSON.stringify(message))
  t.throws(() => verifySun({ piccData: AN_PICC, cmac: AN_CMAC }, { metaReadKey: Buffer.alloc(15), fileReadKeyFor: () => ZERO_KEY }), RangeError, 'a key of the wrong size is a configuration error')
})

t.test('PICC data that does not mirror UID and counter is refused', async (t) => {
  // Encrypt a block whose PICCDataTag is 0x87 (UID only, no counter): without the counter there is no replay protection.
  const { createCipheriv } = await import('node:crypto')
  const c = createCipheriv('aes-128-cbc', ZERO_KEY, Buffer.alloc(16))
  c.setAutoPadding(false)
  const block = Buffer.concat([c.update(Buffer.concat([Buffer.of(0x87), hex(AN_UID), Buffer.alloc(8)])), c.final()])
  t.equal(decryptPiccData(ZERO_KEY, block), undefined)
  t.same(verifySun({ piccData: block.toString('hex'), cmac: AN_CMAC }, zeroKeys), { ok: false, failure: 'bad_picc_data' })
})

t.test('tag side and gateway side agree for random keys, UIDs and counters', async (t) => {
  for (let i = 0; i < 50; i++) {
    const meta = randomBytes(16)
    const file = randomBytes(16)
    const uid = randomBytes(7)
    const counter = i === 0 ? MAX_SDM_READ_COUNTER : randomBytes(3).readUIntLE(0, 3)
    const message = { piccData: encryptPiccData(meta, uid, counter, randomBytes(5)).toString('hex'), cmac: sdmMac(file, uid, counter).toString('hex') }
    const result = verifySun(message, { metaReadKey: meta, fileReadKeyFor: (u) => (u === uid.toString('hex').toUpperCase() ? file : undefined) })
    t.same(result, { ok: true, uid: uid.toString('hex').toUpperCase(), counter })
  }
})

t.test('the tag-side helpers refuse out-of-range input', async (t) => {
  t.throws(() => encryptPiccData(ZERO_KEY, Buffer.alloc(4), 1, Buffer.alloc(5)), RangeError, '4-byte UID')
  t.throws(() => encryptPiccData(ZERO_KEY, hex(AN_UID), MAX_SDM_READ_COUNTER + 1, Buffer.alloc(5)), RangeError)
  t.throws(() => encryptPiccData(ZERO_KEY, hex(AN_UID), -1, Buffer.alloc(5)), RangeError)
  t.throws(() => encryptPiccData(ZERO_KEY, hex(AN_UID), 1, Buffer.alloc(4)), RangeError)
  t.throws(() => sessionMacKey(Buffer.alloc(8), hex(AN_UID), 1), RangeError)
  t.throws(() => truncateMac(Buffer.alloc(8)), RangeError)
  t.equal(decryptPiccData(ZERO_KEY, Buffer.alloc(15)), undefined)
})
