import t from 'tap'
import fc from 'fast-check'
import { encodeApdu } from './apdu.js'
import { decodeZvtMessage, encodeZvtMessage } from './messages.js'
import { ZVT_TLV_CONTAINER_VECTORS, ZVT_TLV_MESSAGE_VECTORS } from './tlv-vectors.js'
import { ZVT_TLV_MAX_DEPTH, ZVT_TLV_MAX_NODES, cleanTerminalText, decodeZvtTlv, encodeZvtTlv, readZvtTlvFields, zvtTlvFromFields } from './tlv.js'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

t.test('messages with TLV containers decode as terminals send them; the encodable ones encode to the same bytes', async (t) => {
  for (const v of ZVT_TLV_MESSAGE_VECTORS) {
    t.same(decodeZvtMessage(v.apdu), { ok: true, message: v.message }, `${v.name}: decode`)
    if (v.encodes) t.same(encodeZvtMessage(v.message), v.apdu, `${v.name}: encode`)
  }
})

t.test('containers: length forms, empty constructed tags and every decode error', async (t) => {
  for (const v of ZVT_TLV_CONTAINER_VECTORS) t.same(decodeZvtTlv(v.bytes), v.result, v.name)
})

t.test('tags: 1F.. takes a second byte, a second byte with 0x80 a third; bit 0x20 of the first byte marks constructed ones', async (t) => {
  const d = decodeZvtTlv(hex('1F 12 01 02  9F 5A 00  1F 80 01 01 AA  60 03 43 01 00  2F 00'))
  t.ok(d.ok)
  if (!d.ok) return
  t.same(
    d.nodes.map((n) => [n.tag, n.children !== undefined]),
    [
      [0x1f12, false],
      [0x9f5a, false],
      [0x1f8001, false],
      [0x60, true],
      [0x2f, true],
    ],
  )
  t.same(d.nodes[3]!.children, [{ tag: 0x43, value: hex('00') }])
})

t.test('what is read: wrong sizes and formats are passed over, not guessed at', async (t) => {
  const d = decodeZvtTlv(hex('1F 12 02 01 01  43 02 A0 00  1F 2B 01 AB  1F 10 01 09  1F 12 01 07'))
  t.ok(d.ok)
  if (d.ok) {
    t.same(readZvtTlvFields(d.nodes), { cardholderVerification: 'code_09', cardTechnology: 'code_07', otherTags: [0x1f12, 0x43, 0x1f2b] }, 'two-byte 1F12, a 2-byte AID, a 1F2B that is not BCD')
  }
  const lines = decodeZvtTlv(hex('24 0A 07 03 41 42 43 07 03 44 45 46'))
  t.ok(lines.ok && readZvtTlvFields(lines.nodes).displayText === 'ABC / DEF', 'lines of 24 joined')
})

t.test('terminal text is cleaned: control characters gone, bounded, never longer than the bound', async (t) => {
  t.equal(cleanTerminalText('a\u0000b\u001bc\u007fd\u009be\r\nf'), 'a b c d e f')
  t.equal(cleanTerminalText('x'.repeat(500)).length, 160)
  const long = decodeZvtTlv(encodeZvtTlv(zvtTlvFromFields({ displayText: Array.from({ length: 20 }, () => 'y'.repeat(60)).join(' / ') })))
  t.ok(long.ok && readZvtTlvFields(long.nodes).displayText!.length <= 160)
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = cleanTerminalText(Buffer.from(bytes).toString('latin1'))
        return text.length <= 160 && !/[\u0000-\u001f\u007f-\u009f]/.test(text)
      }),
    ),
  )
})

t.test('hostile containers cost bounded work: deep nesting and floods of tags are errors', async (t) => {
  let deep = hex('07 00')
  for (let i = 0; i <= ZVT_TLV_MAX_DEPTH; i++) deep = Buffer.concat([hex('24'), Buffer.of(deep.length), deep])
  t.match(decodeZvtTlv(deep), { ok: false, error: 'too-deep' })
  const flood = Buffer.concat(Array.from({ length: ZVT_TLV_MAX_NODES + 1 }, () => hex('07 00')))
  t.match(decodeZvtTlv(flood), { ok: false, error: 'too-many' })
  t.match(decodeZvtTlv(flood.subarray(0, ZVT_TLV_MAX_NODES * 2)), { ok: true })
})

t.test('the encoder refuses tags and values our own code must not produce', async (t) => {
  t.throws(() => encodeZvtTlv([{ tag: 0x1f, value: Buffer.alloc(0) }]), /not a well-formed tag/)
  t.throws(() => encodeZvtTlv([{ tag: 0x1f92, value: Buffer.alloc(0) }]), /not a well-formed tag/)
  t.throws(() => encodeZvtTlv([{ tag: 0x24, value: Buffer.alloc(0) }]), /constructed/)
  t.throws(() => encodeZvtTlv([{ tag: 0x07, children: [] }]), /primitive/)
  t.throws(() => zvtTlvFromFields({ aid: 'a000' }), /AID/)
  t.throws(() => zvtTlvFromFields({ cardTechnology: 'telepathy' }), /card technology/)
  t.same(encodeZvtTlv([{ tag: 0x07, value: Buffer.alloc(200) }]).subarray(0, 3), hex('07 81 C8'))
  t.same(encodeZvtTlv([{ tag: 0x07, value: Buffer.alloc(300) }]).subarray(0, 4), hex('07 82 01 2C'))
})

t.test('property: containers built by the encoder decode to the same tree', async (t) => {
  const primitive = fc.record({ tag: fc.constantFrom(0x07, 0x43, 0x1f12, 0x1f2b, 0x1f8001), value: fc.uint8Array({ maxLength: 300 }) })
  const constructed = fc.record({ tag: fc.constantFrom(0x24, 0x60, 0xe6), children: fc.array(primitive, { maxLength: 4 }) })
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.array(fc.oneof(primitive, constructed), { maxLength: 6 }), (nodes) => {
        const d = decodeZvtTlv(encodeZvtTlv(nodes))
        if (!d.ok) return false
        const shape = (ns: typeof d.nodes): unknown => ns.map((n) => (n.children ? { tag: n.tag, children: shape(n.children) } : { tag: n.tag, value: [...n.value] }))
        const want = (ns: typeof nodes): unknown => ns.map((n) => ('children' in n ? { tag: n.tag, children: want(n.children) } : { tag: n.tag, value: [...n.value] }))
        return JSON.stringify(shape(d.nodes)) === JSON.stringify(want(nodes))
      }),
    ),
  )
})

t.test('property: decodeZvtMessage never throws on random TLV bytes in status and intermediate messages', async (t) => {
  // Random containers, and random bytes shaped like TLV (tags, length forms), behind a result code or a status byte.
  const tlvish = fc.array(fc.oneof(fc.constantFrom(0x1f, 0x24, 0x07, 0x60, 0x43, 0x81, 0x82, 0x80, 0xff, 0x00, 0x12, 0x2b), fc.integer({ min: 0, max: 255 })), { maxLength: 120 }).map((a) => Buffer.from(a))
  const container = (body: Buffer) => Buffer.concat([Buffer.of(0x06), body.length < 0x80 ? Buffer.of(body.length) : Buffer.of(0x81, body.length), body])
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(tlvish, fc.boolean(), fc.integer({ min: -3, max: 3 }), (body, intermediate, skew) => {
        const wrapped = container(body)
        // Skew the container's own length now and then: over-long and short containers.
        if (skew !== 0 && wrapped[1]! < 0x80) wrapped[1] = Math.max(0, Math.min(0x7f, wrapped[1]! + skew))
        const data = intermediate ? Buffer.concat([hex('FF 0A'), wrapped]) : Buffer.concat([hex('27 00'), wrapped])
        const d = decodeZvtMessage(encodeApdu(0x04, intermediate ? 0xff : 0x0f, data))
        return typeof d.ok === 'boolean'
      }),
      { numRuns: 2000 },
    ),
  )
})
