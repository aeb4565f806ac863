import t from 'tap'
import fc from 'fast-check'
import { decodeFrame, createDeframer, encodeFrame } from './frame.js'
import {
  BEEP_PATTERNS,
  InvalidReaderMessageError,
  LED_COLOURS,
  MAX_READER_STRING_BYTES,
  READER_MESSAGE_TYPES,
  TAG_TYPES,
  decodeReaderMessage,
  encodeReaderMessage,
  isReaderToHost,
  normaliseUid,
  type ReaderMessage,
} from './reader-messages.js'
import { READER_VECTORS } from './reader-vectors.js'

t.test('every vector: message → wire bytes and wire bytes → message', async (t) => {
  for (const v of READER_VECTORS) {
    const { type, payload } = encodeReaderMessage(v.message)
    t.same(encodeFrame({ seq: v.seq, type, payload }), v.wire, `${v.name}: encode`)
    const [body] = createDeframer().push(v.wire).frames
    const frame = decodeFrame(body!)
    if (!frame.ok) throw new Error(frame.detail)
    t.equal(frame.frame.seq, v.seq)
    t.same(decodeReaderMessage(frame.frame.type, frame.frame.payload), { ok: true, message: v.message }, `${v.name}: decode`)
    t.equal(isReaderToHost(v.message), v.direction === 'reader-to-host', `${v.name}: direction`)
  }
})

t.test('the vectors cover every message kind', async (t) => {
  const kinds = new Set(READER_VECTORS.map((v) => v.message.kind))
  t.same([...kinds].sort(), Object.keys(READER_MESSAGE_TYPES).sort())
})

t.test('every led, beep and tag type round-trips', async (t) => {
  for (const led of LED_COLOURS)
    for (const beep of BEEP_PATTERNS) {
      const m: ReaderMessage = { kind: 'feedback', led, beep, durationMs: 65535 }
      const e = encodeReaderMessage(m)
      t.same(decodeReaderMessage(e.type, e.payload), { ok: true, message: m })
    }
  for (const type of TAG_TYPES) {
    const m: ReaderMessage = { kind: 'tagPresent', uid: '01020304', type }
    const e = encodeReaderMessage(m)
    t.same(decodeReaderMessage(e.type, e.payload), { ok: true, message: m })
  }
})

t.test('uids are upper-case hex of 4, 7 or 10 bytes', async (t) => {
  t.equal(normaliseUid('04a1b2c3d4e5f6'), '04A1B2C3D4E5F6')
  for (const bad of ['', '0102', '010203', '0102030405', 'zz020304', '01 02 03 04', '0102030405060708090A0B']) t.equal(normaliseUid(bad), null, JSON.stringify(bad))
  const e = encodeReaderMessage({ kind: 'tagGone', uid: 'deadbeef' })
  t.same(decodeReaderMessage(e.type, e.payload), { ok: true, message: { kind: 'tagGone', uid: 'DEADBEEF' } })
})

t.test('strings are UTF-8 up to the stated bound', async (t) => {
  const m: ReaderMessage = { kind: 'hello', model: 'Lesegerät ✓', firmware: 'x'.repeat(MAX_READER_STRING_BYTES), serial: '' }
  const e = encodeReaderMessage(m)
  t.same(decodeReaderMessage(e.type, e.payload), { ok: true, message: m })
})

t.test('encoding refuses out-of-range values with a readable error', async (t) => {
  const bad: [unknown, RegExp][] = [
    [{ kind: 'tagPresent', uid: '0102', type: 'ntag215' }, /uid/],
    [{ kind: 'tagPresent', uid: '01020304', type: 'floppy' }, /tag type/],
    [{ kind: 'tagGone', uid: 'nothex!!' }, /uid/],
    [{ kind: 'feedback', led: 'purple', beep: 'none', durationMs: 1 }, /led/],
    [{ kind: 'feedback', led: 'off', beep: 'siren', durationMs: 1 }, /beep/],
    [{ kind: 'feedback', led: 'off', beep: 'none', durationMs: 65536 }, /durationMs/],
    [{ kind: 'feedback', led: 'off', beep: 'none', durationMs: -1 }, /durationMs/],
    [{ kind: 'feedback', led: 'off', beep: 'none', durationMs: 1.5 }, /durationMs/],
    [{ kind: 'hello', model: 'x'.repeat(MAX_READER_STRING_BYTES + 1), firmware: '', serial: '' }, /model/],
    [{ kind: 'hello', model: 'a\nb', firmware: '', serial: '' }, /control/],
    [{ kind: 'error', code: 256, text: '' }, /code/],
    [{ kind: 'feedbackAck', ackSeq: 256 }, /ackSeq/],
    [{ kind: 'launch' }, /kind/],
  ]
  for (const [message, pattern] of bad) t.throws(() => encodeReaderMessage(message as ReaderMessage), { name: 'InvalidReaderMessageError', message: pattern }, JSON.stringify(message))
  t.ok(new InvalidReaderMessageError('x') instanceof Error)
})

t.test('decoding refuses malformed payloads with a clear error', async (t) => {
  const T = READER_MESSAGE_TYPES
  const cases: [number, number[], 'malformed' | 'unknown-type', RegExp][] = [
    [0x55, [], 'unknown-type', /unknown message type 0x55/],
    [T.tagPresent, [], 'malformed', /uid length/],
    [T.tagPresent, [5, 1, 2, 3, 4, 5, 1], 'malformed', /uid length 5/],
    [T.tagPresent, [4, 1, 2, 3], 'malformed', /ends inside uid/],
    [T.tagPresent, [4, 1, 2, 3, 4], 'malformed', /tag type/],
    [T.tagPresent, [4, 1, 2, 3, 4, 0xee], 'malformed', /unknown tag type code 0xee/],
    // A byte after the tag type starts the optional SUN part (see the SUN test below for trailing bytes after it).
    [T.tagPresent, [4, 1, 2, 3, 4, 1, 9], 'malformed', /unknown SUN format 0x09/],
    [T.tagGone, [7, 1, 2], 'malformed', /uid/],
    [T.hello, [3, 0x61, 0x62], 'malformed', /model/],
    [T.hello, [1, 0xff, 0, 0], 'malformed', /model is not valid UTF-8/],
    [T.hello, [1, 0x07, 0, 0], 'malformed', /control characters/],
    [T.hello, [200, ...new Array(200).fill(0x61), 0, 0], 'malformed', /more than 64/],
    [T.hello, [0, 0], 'malformed', /serial/],
    [T.feedback, [0, 0, 0], 'malformed', /durationMs/],
    [T.feedback, [9, 0, 0, 0], 'malformed', /unknown led code 9/],
    [T.feedback, [0, 9, 0, 0], 'malformed', /unknown beep code 9/],
    [T.feedbackAck, [], 'malformed', /ackSeq/],
    [T.feedbackAck, [1, 2], 'malformed', /trailing/],
    [T.identify, [1], 'malformed', /trailing/],
    [T.error, [1], 'malformed', /text/],
  ]
  for (const [type, payload, error, detail] of cases) t.match(decodeReaderMessage(type, Uint8Array.from(payload)), { ok: false, error, detail }, `${type}: ${payload.slice(0, 8)}`)
})

t.test('decodeReaderMessage never throws on random input', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), (type, payload) => {
      const r = decodeReaderMessage(type, payload)
      if (!r.ok) return typeof r.detail === 'string' && r.detail.length > 0
      // Whatever decodes must encode back to the same bytes: one meaning per byte string.
      const e = encodeReaderMessage(r.message)
      return e.type === type && Buffer.from(payload).equals(e.payload)
    }),
    { numRuns: 2000 },
  )
  t.pass('property held')
})

t.test('tagPresent carries an optional SUN message (NTAG 424 DNA)', async (t) => {
  const sun = { piccData: 'EF963FF7828658A599F3041510671E88', cmac: '94EED9EE65337086' }
  const m: ReaderMessage = { kind: 'tagPresent', uid: '04DE5F1EACC040', type: 'ntag424', sun }
  const e = encodeReaderMessage(m)
  t.equal(e.payload.length, 1 + 7 + 1 + 1 + 16 + 8, 'uid length, uid, type, sun format, PICC data, MAC')
  t.same(decodeReaderMessage(e.type, e.payload), { ok: true, message: m })
  const lower = encodeReaderMessage({ ...m, sun: { piccData: sun.piccData.toLowerCase(), cmac: sun.cmac.toLowerCase() } })
  t.same(decodeReaderMessage(lower.type, lower.payload), { ok: true, message: m }, 'decoded hex is upper-case')
  const plain = decodeReaderMessage(e.type, e.payload.subarray(0, 9))
  t.same(plain, { ok: true, message: { kind: 'tagPresent', uid: '04DE5F1EACC040', type: 'ntag424' } }, 'without the SUN part there is no sun field')

  const T = READER_MESSAGE_TYPES
  const head = [...e.payload.subarray(0, 9)]
  const cases: [number[], RegExp][] = [
    [[...head, 0x02, ...e.payload.subarray(10)], /unknown SUN format 0x02/],
    [[...head, 0x01], /ends inside sun PICC data/],
    [[...head, 0x01, ...new Array(16).fill(0xaa), 1, 2, 3], /ends inside sun MAC/],
    [[...e.payload, 0x00], /1 trailing bytes/],
  ]
  for (const [payload, detail] of cases) t.match(decodeReaderMessage(T.tagPresent, Uint8Array.from(payload)), { ok: false, error: 'malformed', detail }, String(detail))

  const bad: [unknown, RegExp][] = [
    [{ piccData: sun.piccData.slice(2), cmac: sun.cmac }, /sun.piccData/],
    [{ piccData: sun.piccData, cmac: `${sun.cmac}00` }, /sun.cmac/],
    [{ piccData: `ZZ${sun.piccData.slice(2)}`, cmac: sun.cmac }, /sun.piccData/],
    [{ cmac: sun.cmac }, /sun.piccData/],
    [null, /sun.piccData/],
  ]
  for (const [value, pattern] of bad)
    t.throws(() => encodeReaderMessage({ ...m, sun: value } as ReaderMessage), { name: 'InvalidReaderMessageError', message: pattern }, JSON.stringify(value))
})
