// Test vectors for the serial reader protocol (frame.ts + reader-messages.ts),
// every byte commented. The codec tests and the firmware simulator tests both
// use them, so host and device sides are checked against the same bytes.
// CRCs were cross-checked with Python's binascii.crc_hqx(data, 0xFFFF), an
// independent CRC-16/CCITT-FALSE implementation.
import type { ReaderMessage } from './reader-messages.js'

/** Hex with `//` comments and whitespace → bytes. */
export function hexBytes(commented: string): Buffer {
  const hex = commented
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/\s+/g, '')
  if (!/^(?:[0-9A-Fa-f]{2})*$/.test(hex)) throw new Error(`bad hex in vector: ${hex}`)
  return Buffer.from(hex, 'hex')
}

export interface ReaderVector {
  name: string
  direction: 'reader-to-host' | 'host-to-reader'
  seq: number
  message: ReaderMessage
  /** The decoded frame body: header, payload, CRC. */
  body: Buffer
  /** The same frame on the wire: 00, COBS(body), 00. */
  wire: Buffer
}

export const READER_VECTORS: readonly ReaderVector[] = [
  {
    name: 'hello',
    direction: 'reader-to-host',
    seq: 0,
    message: { kind: 'hello', model: 'WP-R1', firmware: '1.2.0', serial: 'SN0001' },
    body: hexBytes(`
      01                // version 1
      00                // seq 0
      01                // msgType hello
      05                // model: 5 bytes
      57 50 2D 52 31    //   "WP-R1"
      05                // firmware: 5 bytes
      31 2E 32 2E 30    //   "1.2.0"
      06                // serial: 6 bytes
      53 4E 30 30 30 31 //   "SN0001"
      B1 3C             // CRC-16/CCITT-FALSE 0xB13C, high byte first
    `),
    wire: hexBytes(`
      00                // delimiter
      02                // COBS: 1 data byte, then a zero (seq 0)
      01                //   version
      17                // COBS: 22 data bytes, then end of frame
      01 05 57 50 2D 52 31 05 31 2E 32 2E 30 06 53 4E 30 30 30 31 B1 3C
      00                // delimiter
    `),
  },
  {
    name: 'tag present, NTAG215, 7-byte uid',
    direction: 'reader-to-host',
    seq: 1,
    message: { kind: 'tagPresent', uid: '04A1B2C3D4E5F6', type: 'ntag215' },
    body: hexBytes(`
      01                    // version 1
      01                    // seq 1
      02                    // msgType tagPresent
      07                    // uid length 7
      04 A1 B2 C3 D4 E5 F6  // uid 04A1B2C3D4E5F6
      05                    // tag type ntag215
      2F 90                 // CRC 0x2F90
    `),
    wire: hexBytes(`
      00                    // delimiter
      0F                    // COBS: 14 data bytes, then end of frame
      01 01 02 07 04 A1 B2 C3 D4 E5 F6 05 2F 90
      00                    // delimiter
    `),
  },
  {
    name: 'tag present, MIFARE Classic, 4-byte uid',
    direction: 'reader-to-host',
    seq: 2,
    message: { kind: 'tagPresent', uid: 'DEADBEEF', type: 'mifare-classic' },
    body: hexBytes(`
      01            // version 1
      02            // seq 2
      02            // msgType tagPresent
      04            // uid length 4
      DE AD BE EF   // uid DEADBEEF
      02            // tag type mifare-classic
      F4 3F         // CRC 0xF43F
    `),
    wire: hexBytes(`
      00            // delimiter
      0C            // COBS: 11 data bytes, then end of frame
      01 02 02 04 DE AD BE EF 02 F4 3F
      00            // delimiter
    `),
  },
  {
    name: 'tag present, NTAG424, uid with zero bytes (COBS stuffing)',
    direction: 'reader-to-host',
    seq: 3,
    message: { kind: 'tagPresent', uid: '0400A1000000FF', type: 'ntag424' },
    body: hexBytes(`
      01                    // version 1
      03                    // seq 3
      02                    // msgType tagPresent
      07                    // uid length 7
      04 00 A1 00 00 00 FF  // uid 0400A1000000FF
      07                    // tag type ntag424
      48 AA                 // CRC 0x48AA
    `),
    wire: hexBytes(`
      00              // delimiter
      06              // COBS: 5 data bytes, then a zero (uid[1])
      01 03 02 07 04  //   version, seq, type, uid length, uid[0]
      02              // COBS: 1 data byte, then a zero (uid[3])
      A1              //   uid[2]
      01              // COBS: no data, then a zero (uid[4])
      01              // COBS: no data, then a zero (uid[5])
      05              // COBS: 4 data bytes, then end of frame
      FF 07 48 AA     //   uid[6], tag type, CRC
      00              // delimiter
    `),
  },
  {
    name: 'tag present, ISO 14443-A, 10-byte uid',
    direction: 'reader-to-host',
    seq: 4,
    message: { kind: 'tagPresent', uid: '0102030405060708090A', type: 'iso14443a' },
    body: hexBytes(`
      01                            // version 1
      04                            // seq 4
      02                            // msgType tagPresent
      0A                            // uid length 10
      01 02 03 04 05 06 07 08 09 0A // uid
      01                            // tag type iso14443a
      D9 DE                         // CRC 0xD9DE
    `),
    wire: hexBytes(`
      00      // delimiter
      12      // COBS: 17 data bytes, then end of frame
      01 04 02 0A 01 02 03 04 05 06 07 08 09 0A 01 D9 DE
      00      // delimiter
    `),
  },
  {
    name: 'tag gone',
    direction: 'reader-to-host',
    seq: 5,
    message: { kind: 'tagGone', uid: '04A1B2C3D4E5F6' },
    body: hexBytes(`
      01                    // version 1
      05                    // seq 5
      03                    // msgType tagGone
      07                    // uid length 7
      04 A1 B2 C3 D4 E5 F6  // uid
      DA 2B                 // CRC 0xDA2B
    `),
    wire: hexBytes(`
      00    // delimiter
      0E    // COBS: 13 data bytes, then end of frame
      01 05 03 07 04 A1 B2 C3 D4 E5 F6 DA 2B
      00    // delimiter
    `),
  },
  {
    name: 'feedback ack',
    direction: 'reader-to-host',
    seq: 6,
    message: { kind: 'feedbackAck', ackSeq: 0x2a },
    body: hexBytes(`
      01      // version 1
      06      // seq 6
      04      // msgType feedbackAck
      2A      // acknowledges the host frame with seq 0x2A
      09 38   // CRC 0x0938
    `),
    wire: hexBytes(`
      00                // delimiter
      07                // COBS: 6 data bytes, then end of frame
      01 06 04 2A 09 38
      00                // delimiter
    `),
  },
  {
    name: 'error report',
    direction: 'reader-to-host',
    seq: 7,
    message: { kind: 'error', code: 0x10, text: 'antenna fault' },
    body: hexBytes(`
      01      // version 1
      07      // seq 7
      0F      // msgType error
      10      // error code 0x10 (hardware)
      0D      // text: 13 bytes
      61 6E 74 65 6E 6E 61 20 66 61 75 6C 74 // "antenna fault"
      71 0F   // CRC 0x710F
    `),
    wire: hexBytes(`
      00    // delimiter
      15    // COBS: 20 data bytes, then end of frame
      01 07 0F 10 0D 61 6E 74 65 6E 6E 61 20 66 61 75 6C 74 71 0F
      00    // delimiter
    `),
  },
  {
    name: 'tag present, NTAG424 with a SUN message (the AN12196 example)',
    direction: 'reader-to-host',
    seq: 8,
    message: {
      kind: 'tagPresent',
      uid: '04DE5F1EACC040',
      type: 'ntag424',
      sun: { piccData: 'EF963FF7828658A599F3041510671E88', cmac: '94EED9EE65337086' },
    },
    body: hexBytes(`
      01                      // version 1
      08                      // seq 8
      02                      // msgType tagPresent
      07                      // uid length 7
      04 DE 5F 1E AC C0 40    // uid 04DE5F1EACC040
      07                      // tag type ntag424
      01                      // sun format 1: AES
      EF 96 3F F7 82 86 58 A5 // encrypted PICC data (16 bytes): with K_SDMMetaRead = 0
      99 F3 04 15 10 67 1E 88 //   it decrypts to C7, the uid, SDMReadCtr 3D0000 (61), padding
      94 EE D9 EE 65 33 70 86 // SDMMAC (8 bytes), K_SDMFileRead = 0, empty MAC input
      1D E7                   // CRC 0x1DE7
    `),
    wire: hexBytes(`
      00    // delimiter
      28    // COBS: 39 data bytes, then end of frame
      01 08 02 07 04 DE 5F 1E AC C0 40 07 01
      EF 96 3F F7 82 86 58 A5 99 F3 04 15 10 67 1E 88
      94 EE D9 EE 65 33 70 86 1D E7
      00    // delimiter
    `),
  },
  {
    name: 'feedback: green LED, short beep, 1500 ms',
    direction: 'host-to-reader',
    seq: 0x2a,
    message: { kind: 'feedback', led: 'green', beep: 'short', durationMs: 1500 },
    body: hexBytes(`
      01      // version 1
      2A      // seq 0x2A
      11      // msgType feedback
      01      // led green
      01      // beep short
      05 DC   // durationMs 1500
      E0 2E   // CRC 0xE02E
    `),
    wire: hexBytes(`
      00    // delimiter
      0A    // COBS: 9 data bytes, then end of frame
      01 2A 11 01 01 05 DC E0 2E
      00    // delimiter
    `),
  },
  {
    name: 'feedback: all off (payload of zeros)',
    direction: 'host-to-reader',
    seq: 0x2b,
    message: { kind: 'feedback', led: 'off', beep: 'none', durationMs: 0 },
    body: hexBytes(`
      01      // version 1
      2B      // seq 0x2B
      11      // msgType feedback
      00      // led off
      00      // beep none
      00 00   // durationMs 0
      11 0E   // CRC 0x110E
    `),
    wire: hexBytes(`
      00        // delimiter
      04        // COBS: 3 data bytes, then a zero (led off)
      01 2B 11  //   version, seq, type
      01        // COBS: a zero (beep)
      01        // COBS: a zero (duration high)
      01        // COBS: a zero (duration low)
      03        // COBS: 2 data bytes, then end of frame
      11 0E     //   CRC
      00        // delimiter
    `),
  },
  {
    name: 'identify',
    direction: 'host-to-reader',
    seq: 0x2c,
    message: { kind: 'identify' },
    body: hexBytes(`
      01      // version 1
      2C      // seq 0x2C
      10      // msgType identify, no payload
      AA 16   // CRC 0xAA16
    `),
    wire: hexBytes(`
      00    // delimiter
      06    // COBS: 5 data bytes, then end of frame
      01 2C 10 AA 16
      00    // delimiter
    `),
  },
]
