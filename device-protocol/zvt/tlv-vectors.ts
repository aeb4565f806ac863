// ZVT TLV container (BMP 06) vectors, every byte commented: containers as
// terminals fill them and the messages that carry them. The codec tests and
// the terminal simulator's tests both use them. Tag numbers: see tlv.ts.
import { hexBytes } from '../reader-vectors.js'
import type { ZvtMessage } from './messages.js'
import type { DecodeZvtTlvResult } from './tlv.js'

export interface ZvtTlvMessageVector {
  name: string
  apdu: Buffer
  message: ZvtMessage
  /** Whether encodeZvtMessage(message) gives `apdu` back (false: decode-only, e.g. unknown tags that are not kept). */
  encodes: boolean
}

export const ZVT_TLV_MESSAGE_VECTORS: readonly ZvtTlvMessageVector[] = [
  {
    name: 'status information 04 0F: approved contactless with online PIN, AID and long trace number in the TLV container',
    encodes: true,
    message: {
      kind: 'statusInformation',
      info: {
        resultCode: 0,
        amountCents: 1000,
        traceNumber: '000042',
        terminalId: '52000123',
        receiptNumber: '0017',
        cardTechnology: 'contactless',
        cardholderVerification: 'online_pin',
        aid: 'A0000000041010',
        longReceiptNumber: '000123',
      },
    },
    apdu: hexBytes(`
      04 0F                       // status information
      30                          // 48 bytes of data
      27 00                       // BMP 27 result code 00: success
      04 00 00 00 00 10 00        // BMP 04 amount 10.00
      0B 00 00 42                 // BMP 0B trace number 000042
      29 52 00 01 23              // BMP 29 terminal id 52000123
      87 00 17                    // BMP 87 receipt number 0017
      06 19                       // BMP 06 TLV container, 25 bytes
      1F 12 01 02                 //   1F12 card technology, 1 byte: 02 contactless
      1F 10 01 02                 //   1F10 cardholder authentication, 1 byte: 02 online PIN
      60 09                       //   60 application (constructed), 9 bytes
      43 07 A0 00 00 00 04 10 10  //     43 application-ID, 7 bytes: AID A0000000041010
      1F 2B 03 00 01 23           //   1F2B trace number (long format), 3 bytes BCD: 000123
    `),
  },
  {
    name: 'status information 04 0F: result code FF with extended error code and text',
    encodes: true,
    message: {
      kind: 'statusInformation',
      info: { resultCode: 0xff, amountCents: 2500, terminalId: '52000123', extendedErrorCode: '0104', extendedErrorText: 'HOST OFFLINE' },
    },
    apdu: hexBytes(`
      04 0F                 // status information
      24                    // 36 bytes of data
      27 FF                 // BMP 27 result code FF: system error, details in the container
      04 00 00 00 00 25 00  // BMP 04 amount 25.00
      29 52 00 01 23        // BMP 29 terminal id 52000123
      06 14                 // BMP 06 TLV container, 20 bytes
      1F 16 02 01 04        //   1F16 extended error code, 2 bytes: 0104
      1F 17 0C              //   1F17 extended error text, 12 bytes:
      48 4F 53 54 20 4F     //     "HOST O
      46 46 4C 49 4E 45     //      FFLINE"
    `),
  },
  {
    name: 'intermediate status 04 FF: status FF, timeout 10 s, display text in the TLV container',
    encodes: true,
    message: { kind: 'intermediateStatus', status: 0xff, timeoutS: 10, text: 'Bitte Karte / vorhalten' },
    apdu: hexBytes(`
      04 FF                             // intermediate status information
      1E                                // 30 bytes of data
      FF                                // status FF: the text is in the TLV container
      0A                                // timeout 10 s
      06 1A                             // BMP 06 TLV container, 26 bytes
      24 18                             //   24 display-texts (constructed), 24 bytes
      07 0B                             //     07 text-line, 11 bytes:
      42 69 74 74 65 20 4B 61 72 74 65  //       "Bitte Karte"
      07 09                             //     07 text-line, 9 bytes:
      76 6F 72 68 61 6C 74 65 6E        //       "vorhalten"
    `),
  },
  {
    name: 'intermediate status 04 FF: hostile display text (markup, an escape sequence, CR LF NUL) is cleaned, never interpreted',
    encodes: false,
    message: { kind: 'intermediateStatus', status: 0xff, timeoutS: 10, text: '<b>PIN</b> [2J' },
    apdu: hexBytes(`
      04 FF                          // intermediate status information
      1B                             // 27 bytes of data
      FF 0A                          // status FF, timeout 10 s
      06 17                          // BMP 06 TLV container, 23 bytes
      24 15                          //   24 display-texts, 21 bytes
      07 0E                          //     07 text-line, 14 bytes:
      3C 62 3E 50 49 4E 3C 2F 62 3E  //       "<b>PIN</b>" (kept as text: the kiosk renders it as text)
      1B 5B 32 4A                    //       ESC "[2J": ESC becomes a space
      07 03 00 0D 0A                 //     07 text-line, 3 bytes: NUL CR LF, nothing left: dropped
    `),
  },
  {
    name: 'status information 04 0F: tags unknown to us inside the container (a three-byte tag, a constructed one, print texts) are passed over by their length',
    encodes: false,
    message: { kind: 'statusInformation', info: { resultCode: 0, receiptNumber: '0017', cardTechnology: 'chip', otherTlvTags: [0x1f8001, 0xe6, 0x41, 0x1f4c, 0x25, 0x07] } },
    apdu: hexBytes(`
      04 0F              // status information
      23                 // 35 bytes of data
      27 00              // BMP 27 result code 00
      87 00 17           // BMP 87 receipt number 0017
      06 1C              // BMP 06 TLV container, 28 bytes
      1F 80 01 02 AA BB  //   1F8001 (three-byte tag: 1F, then 80 "more follows", then 01), 2 bytes, passed over
      E6 07              //   E6 card type container (constructed), 7 bytes, not used:
      41 01 05           //     41 ZVT card type id, 1 byte
      1F 4C 01 00        //     1F4C card type, 1 byte
      1F 12 01 01        //   1F12 card technology: 01 chip
      25 07              //   25 print-texts (constructed), 7 bytes: receipt text, not display text
      07 05 41 42 43 44 45  //   07 text-line "ABCDE"
    `),
  },
  {
    name: 'status information 04 0F: a container whose inside is cut short keeps the result code and says what is wrong',
    encodes: false,
    message: { kind: 'statusInformation', info: { resultCode: 0, tlvError: 'TLV container: tag 1F12 at offset 0 needs 7 bytes, 2 left' } },
    apdu: hexBytes(`
      04 0F           // status information
      09              // 9 bytes of data
      27 00           // BMP 27 result code 00
      06 05           // BMP 06 TLV container, 5 bytes (all present)
      1F 12 07 02 00  //   1F12 claims 7 bytes, 2 are left in the container
    `),
  },
  {
    name: 'status information 04 0F: a container longer than the message is a partly readable message',
    encodes: false,
    message: { kind: 'statusInformation', info: { resultCode: 0, parseError: 'BMP 0x06 needs 16 bytes, 3 left' } },
    apdu: hexBytes(`
      04 0F     // status information
      07        // 7 bytes of data
      27 00     // BMP 27 result code 00
      06 10     // BMP 06 claims 16 bytes
      1F 12 01  //   3 are left in the message
    `),
  },
  {
    name: 'intermediate status 04 FF: an unreadable container leaves the status without text',
    encodes: false,
    message: { kind: 'intermediateStatus', status: 0xff, timeoutS: 10, tlvError: 'TLV container: inside tag 24: tag 07: length byte 0x83 at offset 3' },
    apdu: hexBytes(`
      04 FF        // intermediate status information
      08           // 8 bytes of data
      FF 0A        // status FF, timeout 10 s
      06 04        // BMP 06 TLV container, 4 bytes
      24 02        //   24 display-texts, 2 bytes
      07 83        //     07 with length byte 83: not a ZVT length form
    `),
  },
]

export interface ZvtTlvContainerVector {
  name: string
  /** The container's value (what follows BMP 06 and its length). */
  bytes: Buffer
  result: DecodeZvtTlvResult
}

/** Containers on their own: the length forms and the errors. */
export const ZVT_TLV_CONTAINER_VECTORS: readonly ZvtTlvContainerVector[] = [
  {
    name: 'length in the 81 nn form',
    bytes: hexBytes(`1F 17 81 02 4F 4B // 1F17, length 81 02 = 2 bytes: "OK"`),
    result: { ok: true, nodes: [{ tag: 0x1f17, value: hexBytes(`4F 4B`) }] },
  },
  {
    name: 'length in the 82 nn nn form (big endian)',
    bytes: hexBytes(`1F 17 82 00 01 41 // 1F17, length 82 00 01 = 1 byte: "A"`),
    result: { ok: true, nodes: [{ tag: 0x1f17, value: hexBytes(`41`) }] },
  },
  {
    name: 'a constructed tag with an empty value',
    bytes: hexBytes(`24 00 // 24 display-texts, no lines`),
    result: { ok: true, nodes: [{ tag: 0x24, value: Buffer.alloc(0), children: [] }] },
  },
  {
    name: 'a multi-byte tag cut short',
    bytes: hexBytes(`1F // first byte says more tag bytes follow; none do`),
    result: { ok: false, error: 'truncated', detail: 'tag at offset 0 cut short' },
  },
  {
    name: 'a tag longer than three bytes',
    bytes: hexBytes(`1F 81 82 03 00 // every further byte says "more follows"`),
    result: { ok: false, error: 'bad-tag', detail: 'tag at offset 0 longer than 3 bytes' },
  },
  {
    name: 'a length missing',
    bytes: hexBytes(`1F 12 // tag, then nothing`),
    result: { ok: false, error: 'truncated', detail: 'tag 1F12: length at offset 2 missing' },
  },
  {
    name: 'an 82 length cut short',
    bytes: hexBytes(`07 82 00 // two length bytes announced, one present`),
    result: { ok: false, error: 'truncated', detail: 'tag 07: length at offset 1 cut short' },
  },
  {
    name: 'length form 80 (indefinite in BER) is not ZVT',
    bytes: hexBytes(`07 80 00 00`),
    result: { ok: false, error: 'bad-length', detail: 'tag 07: length byte 0x80 at offset 1' },
  },
  {
    name: 'a value longer than its container',
    bytes: hexBytes(`24 05 07 01 41 // 24 claims 5 bytes, 3 follow`),
    result: { ok: false, error: 'truncated', detail: 'tag 24 at offset 0 needs 5 bytes, 3 left' },
  },
  {
    name: 'a child longer than its parent (though the container has the bytes)',
    bytes: hexBytes(`
      24 02     // 24 display-texts, 2 bytes
      07 03     //   07 claims 3 bytes inside a 2-byte parent
      41 42 43  // bytes after the parent
    `),
    result: { ok: false, error: 'truncated', detail: 'inside tag 24: tag 07 at offset 2 needs 3 bytes, 0 left' },
  },
]
