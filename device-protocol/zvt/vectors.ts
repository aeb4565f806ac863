// ZVT test vectors, every byte commented: the APDU and the same APDU framed for
// the serial line. Codec tests and the terminal simulator's tests both use them.
// The CRCs were computed independently of the code under test, with a bitwise
// CRC-16 (reflected polynomial 0x8408, init 0) over APDU + ETX in Python. The
// ACK APDU's frame 10 02 80 00 00 10 03 F5 1F is the one seen in ZVT traces.
import { hexBytes } from '../reader-vectors.js'
import type { ZvtMessage } from './messages.js'

export interface ZvtVector {
  name: string
  direction: 'ecr-to-terminal' | 'terminal-to-ecr' | 'both'
  message: ZvtMessage
  apdu: Buffer
  wire: Buffer
}

export const ZVT_VECTORS: readonly ZvtVector[] = [
  {
    name: 'registration 06 00, password 123456, config 08, EUR',
    direction: 'ecr-to-terminal',
    message: { kind: 'registration', password: '123456', configByte: 0x08, currency: 978 },
    apdu: hexBytes(`
      06 00        // class 06, instr 00: registration
      06           // 6 bytes of data
      12 34 56     // password 123456, 3 bytes BCD
      08           // config byte: send intermediate status information
      09 78        // currency code 978 (EUR), BCD, positional (no BMP tag)
    `),
    wire: hexBytes(`
      10 02                          // DLE STX
      06 00 06 12 34 56 08 09 78     // the APDU (no DLE in it)
      10 03                          // DLE ETX
      CE 9B                          // CRC 0x9BCE, low byte first
    `),
  },
  {
    name: 'authorisation 06 01, 10.00 EUR (the amount holds a DLE byte)',
    direction: 'ecr-to-terminal',
    message: { kind: 'authorisation', amountCents: 1000, currency: 978 },
    apdu: hexBytes(`
      06 01                 // authorisation
      0A                    // 10 bytes of data
      04 00 00 00 00 10 00  // BMP 04 amount: 000000001000 cents = 10.00
      49 09 78              // BMP 49 currency code 978 (EUR)
    `),
    wire: hexBytes(`
      10 02                     // DLE STX
      06 01 0A 04 00 00 00 00   //
      10 10                     // the amount's 0x10, doubled (DLE stuffing)
      00 49 09 78               //
      10 03                     // DLE ETX
      27 60                     // CRC 0x6027 over the unstuffed APDU + ETX, low byte first
    `),
  },
  {
    name: 'ACK APDU 80 00 00',
    direction: 'both',
    message: { kind: 'ack' },
    apdu: hexBytes(`80 00 00 // class 80: positive acknowledgement, no data`),
    wire: hexBytes(`10 02  80 00 00  10 03  F5 1F // CRC 0x1FF5`),
  },
  {
    name: 'NAK APDU 84 9C 00 (please wait)',
    direction: 'both',
    message: { kind: 'nak', code: 0x9c },
    apdu: hexBytes(`84 9C 00 // class 84: negative acknowledgement, instr = error code 9C`),
    wire: hexBytes(`10 02  84 9C 00  10 03  C3 41 // CRC 0x41C3`),
  },
  {
    name: 'intermediate status 04 FF: insert card',
    direction: 'terminal-to-ecr',
    message: { kind: 'intermediateStatus', status: 0x0a },
    apdu: hexBytes(`
      04 FF  // intermediate status information
      01     // 1 byte
      0A     // status 0A: insert card
    `),
    wire: hexBytes(`10 02  04 FF 01 0A  10 03  F5 7D // CRC 0x7DF5`),
  },
  {
    name: 'status information 04 0F: approved',
    direction: 'terminal-to-ecr',
    message: {
      kind: 'statusInformation',
      info: {
        resultCode: 0,
        amountCents: 1000,
        traceNumber: '000042',
        time: '143005',
        date: '0715',
        maskedPan: '************1234',
        terminalId: '52000123',
        currency: 978,
        receiptNumber: '0017',
        cardType: 5,
        cardName: 'girocard',
      },
    },
    apdu: hexBytes(`
      04 0F                    // status information
      37                       // 55 bytes of data
      27 00                    // BMP 27 result code 00: success
      04 00 00 00 00 10 00     // BMP 04 amount 10.00
      0B 00 00 42              // BMP 0B trace number 000042
      0C 14 30 05              // BMP 0C time 14:30:05
      0D 07 15                 // BMP 0D date 07-15 (MMDD)
      22 F0 F8                 // BMP 22 masked PAN, LLVAR: 8 bytes
      EE EE EE EE EE EE 12 34  //   ************1234 (E = masked digit)
      29 52 00 01 23           // BMP 29 terminal id 52000123
      49 09 78                 // BMP 49 currency 978
      87 00 17                 // BMP 87 receipt number 0017
      8A 05                    // BMP 8A card type id 5, as the terminal reports it
      8B F0 F8                 // BMP 8B card name, LLVAR: 8 bytes
      67 69 72 6F 63 61 72 64  //   "girocard"
    `),
    wire: hexBytes(`
      10 02                          // DLE STX
      04 0F 37 27 00 04 00 00 00 00  //
      10 10                          // amount's 0x10, doubled
      00 0B 00 00 42 0C 14 30 05 0D 07 15 22 F0 F8 EE EE EE EE EE EE 12 34
      29 52 00 01 23 49 09 78 87 00 17 8A 05 8B F0 F8 67 69 72 6F 63 61 72 64
      10 03                          // DLE ETX
      1C B9                          // CRC 0xB91C
    `),
  },
  {
    name: 'status information 04 0F: declined (result code 05)',
    direction: 'terminal-to-ecr',
    message: { kind: 'statusInformation', info: { resultCode: 0x05, amountCents: 2500, traceNumber: '000043', terminalId: '52000123', receiptNumber: '0018' } },
    apdu: hexBytes(`
      04 0F                 // status information
      15                    // 21 bytes
      27 05                 // result code 05: declined by the authorisation system
      04 00 00 00 00 25 00  // amount 25.00
      0B 00 00 43           // trace number 000043
      29 52 00 01 23        // terminal id 52000123
      87 00 18              // receipt number 0018
    `),
    wire: hexBytes(`
      10 02
      04 0F 15 27 05 04 00 00 00 00 25 00 0B 00 00 43 29 52 00 01 23 87 00 18
      10 03
      DA CB                 // CRC 0xCBDA
    `),
  },
  {
    name: 'completion 06 0F, no data',
    direction: 'terminal-to-ecr',
    message: { kind: 'completion' },
    apdu: hexBytes(`06 0F 00 // completion, 0 bytes`),
    wire: hexBytes(`10 02  06 0F 00  10 03  C6 33 // CRC 0x33C6`),
  },
  {
    name: 'completion 06 0F with terminal id (after registration)',
    direction: 'terminal-to-ecr',
    message: { kind: 'completion', terminalId: '52000123' },
    apdu: hexBytes(`
      06 0F           // completion
      05              // 5 bytes
      29 52 00 01 23  // BMP 29 terminal id 52000123
    `),
    wire: hexBytes(`10 02  06 0F 05 29 52 00 01 23  10 03  EB 47 // CRC 0x47EB`),
  },
  {
    name: 'completion 06 0F of a status enquiry: software version, terminal ready',
    direction: 'terminal-to-ecr',
    message: { kind: 'completion', softwareVersion: 'SIM01', terminalStatus: 0 },
    apdu: hexBytes(`
      06 0F            // completion
      09               // 9 bytes
      F0 F0 F5         // software version, LLLVAR: 5 bytes
      53 49 4D 30 31   //   "SIM01"
      00               // terminal status code 00: ready
    `),
    wire: hexBytes(`10 02  06 0F 09 F0 F0 F5 53 49 4D 30 31 00  10 03  66 ED // CRC 0xED66`),
  },
  {
    name: 'abort 06 1E: aborted by the customer (6C)',
    direction: 'terminal-to-ecr',
    message: { kind: 'abort', resultCode: 0x6c },
    apdu: hexBytes(`
      06 1E  // abort
      01     // 1 byte
      6C     // result code 6C: abort via timeout or abort key
    `),
    wire: hexBytes(`10 02  06 1E 01 6C  10 03  C9 F2 // CRC 0xF2C9`),
  },
  {
    name: 'abort 06 1E without a result code (as some terminals send it)',
    direction: 'terminal-to-ecr',
    message: { kind: 'abort' },
    apdu: hexBytes(`
      06 1E  // abort
      00     // 0 bytes: no result code
    `),
    wire: hexBytes(`10 02  06 1E 00  10 03  8F EC // CRC 0xEC8F`),
  },
  {
    name: 'ECR abort 06 B0',
    direction: 'ecr-to-terminal',
    message: { kind: 'ecrAbort' },
    apdu: hexBytes(`06 B0 00 // abort from the ECR, no data`),
    wire: hexBytes(`10 02  06 B0 00  10 03  43 F3 // CRC 0xF343`),
  },
  {
    name: 'reversal 06 30 of receipt 0017',
    direction: 'ecr-to-terminal',
    message: { kind: 'reversal', password: '123456', receiptNumber: '0017' },
    apdu: hexBytes(`
      06 30     // reversal
      06        // 6 bytes
      12 34 56  // password, positional
      87 00 17  // BMP 87 receipt number 0017
    `),
    wire: hexBytes(`10 02  06 30 06 12 34 56 87 00 17  10 03  77 76 // CRC 0x7677`),
  },
  {
    name: 'status enquiry 05 01',
    direction: 'ecr-to-terminal',
    message: { kind: 'statusEnquiry', password: '123456' },
    apdu: hexBytes(`
      05 01     // status enquiry
      03        // 3 bytes
      12 34 56  // password
    `),
    wire: hexBytes(`10 02  05 01 03 12 34 56  10 03  E0 43 // CRC 0x43E0`),
  },
  // ---- repeat receipt, end of day and their answers (PA00P015: "Repeat
  // Receipt" 06 20 and "End-of-Day" 06 50 take the password alone; the
  // terminal answers with status information, print lines and a completion, or
  // an abort with its result code; BMP 60's layout is in messages.ts) ----
  {
    name: 'repeat receipt 06 20',
    direction: 'ecr-to-terminal',
    message: { kind: 'repeatReceipt', password: '123456' },
    apdu: hexBytes(`
      06 20     // repeat receipt
      03        // 3 bytes
      12 34 56  // password, 3 bytes BCD
    `),
    wire: hexBytes(`10 02  06 20 03 12 34 56  10 03  C5 6A // CRC 0x6AC5`),
  },
  {
    name: 'end of day 06 50',
    direction: 'ecr-to-terminal',
    message: { kind: 'endOfDay', password: '123456' },
    apdu: hexBytes(`
      06 50     // end of day
      03        // 3 bytes
      12 34 56  // password, 3 bytes BCD
    `),
    wire: hexBytes(`10 02  06 50 03 12 34 56  10 03  C4 AF // CRC 0xAFC4`),
  },
  {
    name: 'print line 06 D1 (part of a repeated receipt)',
    direction: 'terminal-to-ecr',
    message: { kind: 'printLine', attribute: 0x00, text: 'BETRAG EUR 10,00' },
    apdu: hexBytes(`
      06 D1                    // print line
      11                       // 17 bytes
      00                       // attribute byte 00: no special formatting
      42 45 54 52 41 47 20 45  // "BETRAG E"
      55 52 20 31 30 2C 30 30  // "UR 10,00"
    `),
    wire: hexBytes(`10 02  06 D1 11 00 42 45 54 52 41 47 20 45 55 52 20 31 30 2C 30 30  10 03  CE 53 // CRC 0x53CE`),
  },
  {
    name: 'status information 04 0F of an end of day: total and individual totals (BMP 60)',
    direction: 'terminal-to-ecr',
    message: {
      kind: 'statusInformation',
      info: {
        resultCode: 0,
        amountCents: 4500,
        traceNumber: '000044',
        time: '221500',
        date: '0715',
        terminalId: '52000123',
        totals: {
          receiptFrom: '0017',
          receiptTo: '0019',
          cardTypes: [
            { cardType: 'girocard', count: 2, amountCents: 3500 },
            { cardType: 'visa', count: 1, amountCents: 1000 },
          ],
        },
      },
    },
    apdu: hexBytes(`
      04 0F                 // status information
      52                    // 82 bytes
      27 00                 // BMP 27 result code 00: the day is closed
      04 00 00 00 00 45 00  // BMP 04 amount: the total, 45.00
      0B 00 00 44           // BMP 0B trace number 000044
      0C 22 15 00           // BMP 0C time 22:15:00
      0D 07 15              // BMP 0D date 07-15
      29 52 00 01 23        // BMP 29 terminal id 52000123
      60 F0 F5 F3           // BMP 60 individual totals, LLLVAR: 53 bytes
      00 17                 //   receipt number of the first transaction: 0017
      00 19                 //   of the last: 0019
      02 00 00 00 00 35 00  //   girocard: 2 payments, 35.00
      00 00 00 00 00 00 00  //   JCB: none
      00 00 00 00 00 00 00  //   Eurocard/Mastercard: none
      00 00 00 00 00 00 00  //   American Express: none
      01 00 00 00 00 10 00  //   Visa: 1 payment, 10.00
      00 00 00 00 00 00 00  //   Diners: none
      00 00 00 00 00 00 00  //   remaining cards: none
    `),
    wire: hexBytes(`
      10 02                                      // DLE STX
      04 0F 52 27 00 04 00 00 00 00 45 00 0B 00 00 44 0C 22 15 00 0D 07 15 29 52 00 01 23
      60 F0 F5 F3 00 17 00 19 02 00 00 00 00 35 00
      00 00 00 00 00 00 00  00 00 00 00 00 00 00  00 00 00 00 00 00 00
      01 00 00 00 00
      10 10                                      // Visa's 0x10, doubled
      00
      00 00 00 00 00 00 00  00 00 00 00 00 00 00
      10 03                                      // DLE ETX
      C8 81                                      // CRC 0x81C8
    `),
  },
  {
    name: 'abort 06 1E B5: reversal not possible (no such receipt)',
    direction: 'terminal-to-ecr',
    message: { kind: 'abort', resultCode: 0xb5 },
    apdu: hexBytes(`
      06 1E  // abort
      01     // 1 byte
      B5     // result code B5: reversal not possible
    `),
    wire: hexBytes(`10 02  06 1E 01 B5  10 03  EA 7A // CRC 0x7AEA`),
  },
  {
    name: 'abort 06 1E 77: end of day not possible',
    direction: 'terminal-to-ecr',
    message: { kind: 'abort', resultCode: 0x77 },
    apdu: hexBytes(`
      06 1E  // abort
      01     // 1 byte
      77     // result code 77: end-of-day batch not possible
    `),
    wire: hexBytes(`10 02  06 1E 01 77  10 03  F0 83 // CRC 0x83F0`),
  },
]

/**
 * Bitmaps missing from our BMP table, as terminals with a display send them
 * (display images and vendor data). Each carries an LLVAR or LLLVAR length, so
 * a decoder can pass over them (see bmp.ts). The simulator appends them to its
 * status information when told to.
 */
export const ZVT_UNKNOWN_BMPS: Buffer = hexBytes(`
  70 F0 F4     // BMP 70 (unknown to us), LLVAR: 4 bytes
  01 02 03 04  //   its value, passed over
  FD F0 F0 F3  // BMP FD (unknown to us), LLLVAR: 3 bytes
  41 42 43     //   its value, passed over
`)

/**
 * Messages terminals send that a decoder must read although they cannot be
 * encoded by us (unknown tags are passed over, not kept): decode-only.
 */
export interface ZvtDecodeVector {
  name: string
  apdu: Buffer
  message: ZvtMessage
}

export const ZVT_DECODE_VECTORS: readonly ZvtDecodeVector[] = [
  {
    name: 'status information 04 0F: approved, with unknown LLVAR and LLLVAR bitmaps between the known ones',
    message: { kind: 'statusInformation', info: { resultCode: 0, amountCents: 1000, traceNumber: '000042', receiptNumber: '0017', skippedTags: [0x70, 0x75, 0xfd] } },
    apdu: hexBytes(`
      04 0F                 // status information
      23                    // 35 bytes of data
      27 00                 // BMP 27 result code 00: success
      70 F0 F4 01 02 03 04  // BMP 70 (unknown), LLVAR: 4 bytes, passed over
      04 00 00 00 00 10 00  // BMP 04 amount 10.00
      75 F0 F2 AA BB        // BMP 75 (unknown), LLVAR: 2 bytes, passed over
      0B 00 00 42           // BMP 0B trace number 000042
      FD F0 F0 F3 41 42 43  // BMP FD (unknown), LLLVAR: 3 bytes, passed over
                            //   (read as LLVAR it would be 0 bytes, then BMP F3 with no valid length: no fit)
      87 00 17              // BMP 87 receipt number 0017
    `),
  },
  {
    name: 'status information 04 0F: an unknown bitmap without a length prefix stops the reading; the result code before it is kept',
    message: { kind: 'statusInformation', info: { resultCode: 0, parseError: 'unknown BMP 0x71 at offset 2: its length cannot be told' } },
    apdu: hexBytes(`
      04 0F        // status information
      09           // 9 bytes
      27 00        // BMP 27 result code 00
      71 01 02     // BMP 71 (unknown), followed by no Fx length: its length cannot be told
      0B 00 00 42  // BMP 0B trace number 000042 (not reached)
    `),
  },
  {
    name: 'status information 04 0F with a card name padded with NUL bytes',
    message: { kind: 'statusInformation', info: { resultCode: 0, cardName: 'VISA' } },
    apdu: hexBytes(`
      04 0F              // status information
      0B                 // 11 bytes
      27 00              // BMP 27 result code 00
      8B F0 F6           // BMP 8B card name, LLVAR: 6 bytes
      56 49 53 41 00 00  //   "VISA" and two NULs, trimmed
    `),
  },
]

/** The single-byte transport acknowledgements. */
export const ZVT_ACK_BYTE = Buffer.of(0x06)
export const ZVT_NAK_BYTE = Buffer.of(0x15)

// ---- ZVT over TCP (port 20007) ----
// On TCP the wire form of each vector above is its `apdu` alone: no DLE/STX, no
// CRC, no ACK/NAK bytes. These are the stream-level vectors a splitter must cut.

export interface ZvtTcpStreamVector {
  name: string
  /** The bytes on the TCP stream. */
  stream: Buffer
  /** The APDUs in it, in order. */
  apdus: Buffer[]
}

export const ZVT_TCP_STREAM_VECTORS: readonly ZvtTcpStreamVector[] = [
  {
    name: 'ACK APDU then intermediate status back to back',
    stream: hexBytes(`
      80 00 00     // ACK APDU: class 80, no data
      04 FF 01 0A  // intermediate status, 1 byte: 0A insert card
    `),
    apdus: [hexBytes(`80 00 00`), hexBytes(`04 FF 01 0A`)],
  },
  {
    name: 'extended length: FF then 2 bytes low byte first (300 bytes of data), then a completion',
    stream: Buffer.concat([
      hexBytes(`
        06 D1        // print text block (the kind of APDU that runs long)
        FF 2C 01     // extended length: 0x012C = 300 bytes of data
      `),
      Buffer.alloc(300, 0x41), // 300 data bytes ("AAAA...")
      hexBytes(`06 0F 00 // completion, no data`),
    ]),
    apdus: [Buffer.concat([hexBytes(`06 D1 FF 2C 01`), Buffer.alloc(300, 0x41)]), hexBytes(`06 0F 00`)],
  },
  {
    name: 'extended length announcing zero bytes',
    stream: hexBytes(`06 0F  FF 00 00 // completion with an extended length of 0`),
    apdus: [hexBytes(`06 0F FF 00 00`)],
  },
]

/** A header announcing more than the default 4096-byte bound: the splitter refuses it. */
export const ZVT_TCP_OVERLONG_HEADER: Buffer = hexBytes(`
  06 D1     // print text block
  FF 00 F0  // extended length 0xF000 = 61,440 bytes of data
`)
