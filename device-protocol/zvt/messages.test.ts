import t from 'tap'
import fc from 'fast-check'
import { ZVT_DECODE_VECTORS, ZVT_UNKNOWN_BMPS, ZVT_VECTORS } from './vectors.js'
import { decodeZvtMessage, encodeZvtMessage, type ZvtMessage } from './messages.js'
import { decodeBcd, decodeMaskedPan, encodeAmount, encodeBcd, encodeMaskedPan, decodeVarLength, encodeVarLength, ZVT_MAX_AMOUNT_CENTS } from './bcd.js'
import { decodeApdu, encodeApdu } from './apdu.js'
import { MAX_UNKNOWN_BMP_TRIES, decodeBmps, encodeBmp } from './bmp.js'
import { zvtIntermediateText, zvtResultText } from './codes.js'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

t.test('every vector encodes to its APDU and decodes back to its message', async (t) => {
  for (const v of ZVT_VECTORS) {
    t.same(encodeZvtMessage(v.message), v.apdu, `${v.name}: encode`)
    const d = decodeZvtMessage(v.apdu)
    t.ok(d.ok, `${v.name}: decodes`)
    if (d.ok) t.same(d.message, v.message, `${v.name}: decode`)
  }
})

t.test('round trips beyond the vectors', async (t) => {
  const messages: ZvtMessage[] = [
    { kind: 'registration', password: '000000', configByte: 0xba, currency: 978, serviceByte: 0x02 },
    { kind: 'registration', password: '999999', configByte: 0x08 },
    { kind: 'authorisation', amountCents: ZVT_MAX_AMOUNT_CENTS, paymentType: 0x40 },
    { kind: 'authorisation', amountCents: 1 },
    { kind: 'reversal', password: '123456' },
    { kind: 'statusEnquiry', password: '123456', serviceByte: 1 },
    { kind: 'nak', code: 0x83 },
    { kind: 'intermediateStatus', status: 0x0e, timeoutS: 30 },
    { kind: 'completion', resultCode: 0, statusByte: 0x40, terminalId: '12345678' },
    { kind: 'completion', softwareVersion: '', terminalStatus: 0x9c },
    { kind: 'abort', resultCode: 0x64 },
    { kind: 'other', cls: 0x06, instr: 0xd3, data: Buffer.from('print me') },
    { kind: 'printLine', attribute: 0xff, text: '' },
    { kind: 'statusInformation', info: { resultCode: 0, totals: { receiptFrom: '0001', receiptTo: '9999', cardTypes: [{ cardType: 'other', count: 99, amountCents: 999_999_999_999 }] } } },
  ]
  for (const m of messages) t.same(decodeZvtMessage(encodeZvtMessage(m)), { ok: true, message: m }, m.kind)
})

t.test('extended length: 255 bytes and more go as FF lo hi', async (t) => {
  const text = 'x'.repeat(300)
  const apdu = encodeZvtMessage({ kind: 'statusInformation', info: { resultCode: 0, additionalText: text } })
  t.same(apdu.subarray(0, 5), hex('04 0F FF 32 01'), 'length 0x0132 = 306, low byte first')
  const d = decodeZvtMessage(apdu)
  t.ok(d.ok && d.message.kind === 'statusInformation' && d.message.info.additionalText === text)
  t.same(encodeApdu(1, 2, Buffer.alloc(254)).subarray(0, 3), hex('01 02 FE'), '254 still fits one byte')
  t.same(decodeApdu(hex('01 02 FF 00 00')), { ok: true, apdu: { cls: 1, instr: 2, data: Buffer.alloc(0) } })
})

t.test('malformed APDUs and messages are errors, never exceptions', async (t) => {
  const cases: [string, string, string][] = [
    ['', 'apdu', 'empty'],
    ['06 01', 'apdu', 'short header'],
    ['06 01 05 04 00', 'apdu', 'length says 5, 2 present'],
    ['06 0F 00 00', 'apdu', 'a byte too many'],
    ['06 0F FF 01', 'apdu', 'extended length cut'],
    ['06 01 00', 'malformed', 'authorisation without amount'],
    ['06 01 07 04 00 00 00 00 1A 00', 'malformed', 'amount not BCD'],
    ['06 01 04 04 00 00 00', 'malformed', 'amount truncated'],
    ['06 01 02 77 01', 'malformed', 'unknown BMP in a command'],
    ['06 00 03 12 34 56', 'malformed', 'registration without config byte'],
    ['06 00 06 12 3A 56 08 09 78', 'malformed', 'password not BCD'],
    ['05 01 01 12', 'malformed', 'status enquiry with a short password'],
    ['06 30 02 12 34', 'malformed', 'reversal with a short password'],
    ['06 30 06 12 34 56 87 0A 17', 'malformed', 'receipt not BCD'],
    ['04 FF 00', 'malformed', 'intermediate status without status'],
    ['04 0F 04 0B 00 0A 42', 'malformed', 'trace number not BCD'],
    ['04 0F 04 22 F0 F1 AB', 'malformed', 'masked PAN with a nibble A'],
    ['06 0F 03 F0 F0 F5', 'malformed', 'enquiry completion cut short'],
    ['06 0F 02 29 52', 'malformed', 'terminal id truncated'],
    ['06 20 00', 'malformed', 'repeat receipt without a password'],
    ['06 20 04 12 34 56 00', 'malformed', 'repeat receipt with a byte after the password'],
    ['06 50 03 12 34 5A', 'malformed', 'end of day with a password not BCD'],
    ['06 D1 00', 'malformed', 'print line without its attribute'],
    ['04 0F 07 60 F0 F0 F3 00 17 00', 'malformed', 'individual totals of 3 bytes, not 53'],
    [`04 0F 39 60 F0 F5 F3 00 17 00 19 0A ${'00 '.repeat(48)}`, 'malformed', 'individual totals with a count not BCD'],
  ]
  for (const [bytes, error, what] of cases) {
    const d = decodeZvtMessage(hex(bytes))
    t.equal(d.ok ? 'ok' : d.error, error, what)
  }
})

t.test('a status information with an unknown or broken BMP keeps what came before and says what went wrong', async (t) => {
  const d = decodeZvtMessage(hex('04 0F 0A 27 00 0B 00 00 42 77 01 02 03'))
  t.ok(d.ok)
  if (d.ok && d.message.kind === 'statusInformation') {
    t.equal(d.message.info.resultCode, 0)
    t.equal(d.message.info.traceNumber, '000042')
    t.match(d.message.info.parseError, /unknown BMP 0x77/)
  }
  const card = decodeZvtMessage(hex('04 0F 05 27 00 0E 28 12'))
  t.ok(card.ok && card.message.kind === 'statusInformation' && card.message.info.otherTags?.[0] === 0x0e, 'expiry date is skipped, not kept')
  t.notOk(card.ok && JSON.stringify(card.message).includes('2812'))
})

t.test('decode-only vectors: unknown bitmaps passed over by their length, NUL-padded card names', async (t) => {
  for (const v of ZVT_DECODE_VECTORS) t.same(decodeZvtMessage(v.apdu), { ok: true, message: v.message }, v.name)
})

t.test('abort without a result code (06 1E 00) is an abort, not a malformed message', async (t) => {
  t.same(decodeZvtMessage(hex('06 1E 00')), { ok: true, message: { kind: 'abort' } })
  t.same(encodeZvtMessage({ kind: 'abort' }), hex('06 1E 00'))
})

t.test('unknown bitmaps after a whole status information: every known field kept, the unknown tags listed', async (t) => {
  const approved = ZVT_VECTORS.find((v) => v.name === 'status information 04 0F: approved')!
  const data = Buffer.concat([approved.apdu.subarray(3), ZVT_UNKNOWN_BMPS])
  const d = decodeZvtMessage(encodeApdu(0x04, 0x0f, data))
  t.ok(d.ok && d.message.kind === 'statusInformation')
  if (d.ok && d.message.kind === 'statusInformation' && approved.message.kind === 'statusInformation') {
    t.same(d.message.info, { ...approved.message.info, skippedTags: [0x70, 0xfd] })
  }
})

t.test('an unknown bitmap whose length could be read two ways, or too many of them, leaves the message undecodable', async (t) => {
  // 77 F0 F1 F2 ...: as LLVAR 1 byte (F2) then 12 bytes of bitmaps; as LLLVAR the 12 bytes themselves. Both fit.
  const ambiguous = decodeBmps(hex('77 F0 F1 F2  27 00  0B 00 00 42  0C 14 30 05  19 00'))
  t.match(ambiguous, { ok: false, error: 'unknown-bmp', detail: /both as LLVAR and as LLLVAR/ })
  const some = decodeBmps(Buffer.concat([Buffer.from('77F0F0'.repeat(10), 'hex'), hex('27 00')]))
  t.match(some, { ok: true, fields: [{ tag: 0x27 }] })
  t.equal(some.ok && some.skipped?.length, 10)
  const many = decodeBmps(Buffer.concat([Buffer.from('77F0F0'.repeat(MAX_UNKNOWN_BMP_TRIES + 1), 'hex'), hex('27 00')]))
  t.match(many, { ok: false, error: 'unknown-bmp', detail: /more than 32 unknown BMPs/ })
  const command = decodeZvtMessage(hex('06 01 0B  04 00 00 00 00 10 00  77 F0 F1 AA'))
  t.same(command, { ok: true, message: { kind: 'authorisation', amountCents: 1000 } }, 'commands pass over unknown bitmaps too')
})

t.test('encoders refuse values our own code must not produce', async (t) => {
  t.throws(() => encodeZvtMessage({ kind: 'authorisation', amountCents: -1 }), RangeError)
  t.throws(() => encodeZvtMessage({ kind: 'authorisation', amountCents: 1.5 }), RangeError)
  t.throws(() => encodeZvtMessage({ kind: 'authorisation', amountCents: ZVT_MAX_AMOUNT_CENTS + 1 }), RangeError)
  t.throws(() => encodeZvtMessage({ kind: 'authorisation', amountCents: 100, currency: 10_000 }), RangeError)
  t.throws(() => encodeZvtMessage({ kind: 'registration', password: '12345', configByte: 8 }), /6 digits/)
  t.throws(() => encodeZvtMessage({ kind: 'registration', password: '123456', configByte: 256 }), RangeError)
  t.throws(() => encodeZvtMessage({ kind: 'reversal', password: '123456', receiptNumber: '12345' }), RangeError)
  t.throws(() => encodeBmp(0x77, Buffer.alloc(1)), /unknown BMP/)
  t.throws(() => encodeBmp(0x27, Buffer.alloc(2)), /takes 1 bytes/)
})

t.test('BCD, variable lengths and masked PANs', async (t) => {
  t.same(encodeBcd('42', 3), hex('00 00 42'))
  t.throws(() => encodeBcd('1234567', 3))
  t.throws(() => encodeBcd('12a', 3))
  t.equal(decodeBcd(hex('12 34')), '1234')
  t.equal(decodeBcd(hex('1F')), null)
  t.same(encodeAmount(123456), hex('00 00 00 12 34 56'))
  t.same(encodeVarLength(123, 3), hex('F1 F2 F3'))
  t.equal(decodeVarLength(hex('F1 F2'), 0, 2), 12)
  t.equal(decodeVarLength(hex('F1 E2'), 0, 2), null)
  t.equal(decodeVarLength(hex('F1 FA'), 0, 2), null)
  t.equal(decodeVarLength(hex('F1'), 0, 2), null)
  t.same(encodeMaskedPan('*****6789'), hex('EE EE E6 78 9F'), 'odd count padded with F')
  t.equal(decodeMaskedPan(hex('EE EE E6 78 9F')), '*****6789')
  t.throws(() => encodeMaskedPan('4111 1111'))
  t.same(decodeBmps(hex('06 81 02 AA BB 27 00')), { ok: true, fields: [{ tag: 6, value: hex('AA BB') }, { tag: 0x27, value: hex('00') }] }, 'TLV container skipped by its length')
  t.match(decodeBmps(hex('06 83 00')), { ok: false, error: 'bad-length' })
  t.equal(zvtResultText(0x6c), '0x6C aborted (timeout or abort key)')
  t.equal(zvtResultText(0x33), '0x33 authorisation system error 51')
  t.equal(zvtIntermediateText(0x0a), 'insert card')
})

t.test('property: decoding random bytes never throws; authorisations round-trip for any amount', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = decodeZvtMessage(bytes)
        return typeof d.ok === 'boolean'
      }),
    ),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.constantFrom(0x04, 0x06, 0x05, 0x80, 0x84), fc.constantFrom(0x0f, 0xff, 0x01, 0x00, 0x1e, 0x30), fc.uint8Array({ maxLength: 80 }), (cls, instr, data) => {
        const d = decodeZvtMessage(encodeApdu(cls, instr, data))
        return typeof d.ok === 'boolean'
      }),
    ),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: ZVT_MAX_AMOUNT_CENTS }), (amountCents) => {
        const d = decodeZvtMessage(encodeZvtMessage({ kind: 'authorisation', amountCents, currency: 978 }))
        return d.ok && d.message.kind === 'authorisation' && d.message.amountCents === amountCents
      }),
    ),
  )
})
