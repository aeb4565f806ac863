// ZVT application messages (the commands this project uses) ⇄ APDUs. Pure.
//
// ECR → terminal: registration 06 00, authorisation 06 01, reversal 06 30,
// repeat receipt 06 20, end of day 06 50, status enquiry 05 01, ECR abort 06 B0.
// Terminal → ECR: intermediate status 04 FF, status information 04 0F,
// print line 06 D1, completion 06 0F, abort 06 1E.
// Both ways: ACK APDU 80 00 00, NAK APDU 84 xx 00 (xx = error code).
// Every command is answered with 80 00 00 (or 84 xx 00) by the other side.
import { decodeAmount, decodeBcd, decodeMaskedPan, decodeVarLength, encodeAmount, encodeBcd, encodeMaskedPan, encodeVarLength } from './bcd.js'
import { decodeApdu, encodeApdu } from './apdu.js'
import { BMP, decodeBmps, encodeBmp, type BmpField } from './bmp.js'
import { decodeZvtTlv, encodeZvtTlv, readZvtTlvFields, zvtTlvFromFields, type ZvtTlvFields } from './tlv.js'

/** The fields of a status information (04 0F) that this project reads. Card data beyond the masked PAN is not kept. */
export interface ZvtStatusInformation {
  resultCode?: number
  amountCents?: number
  /** 6 digits */
  traceNumber?: string
  /** hhmmss */
  time?: string
  /** MMDD */
  date?: string
  paymentType?: number
  /** digits and '*' for masked ones */
  maskedPan?: string
  /** 8 digits */
  terminalId?: string
  additionalText?: string
  currency?: number
  /** 4 digits */
  receiptNumber?: string
  turnoverNumber?: string
  cardType?: number
  cardName?: string
  /** BMP 60, individual totals: what an end of day (06 50) booked, per card type. */
  totals?: ZvtIndividualTotals
  /** From the TLV container (BMP 06, tlv.ts): 1F12, e.g. 'chip', 'contactless'. */
  cardTechnology?: string
  /** 1F10 cardholder authentication, e.g. 'online_pin', 'signature', 'none'. */
  cardholderVerification?: string
  /** 43 application-ID (inside 60 application), upper-case hex. */
  aid?: string
  /** 1F2B trace number in long format: digits. */
  longReceiptNumber?: string
  /** 1F16 extended error code (upper-case hex), sent with result code FF. */
  extendedErrorCode?: string
  /** 1F17 extended error text (control characters removed, bounded), sent with result code FF. */
  extendedErrorText?: string
  /** Tags of the TLV container this project does not read, for logs. */
  otherTlvTags?: number[]
  /** Set when the TLV container's inside could not be read: the bitmaps around it are whole, so the result code still counts. */
  tlvError?: string
  /** Other BMPs the terminal sent (tag → value), kept for logs of unusual terminals. */
  otherTags?: number[]
  /** BMPs missing from our table that were passed over by their LLVAR/LLLVAR length (see bmp.ts); the other fields are whole. */
  skippedTags?: number[]
  /** Set when the BMPs could not all be read; fields before the problem are kept. */
  parseError?: string
}

/**
 * BMP 60 "individual totals" (LLLVAR), as the ZVT specification PA00P015 lays
 * it out in its bitmap list: receipt number of the first and of the last
 * transaction (2 bytes BCD each), then seven blocks of count (1 byte BCD) and
 * amount (6 bytes BCD) in this order: girocard (ec-cash), JCB,
 * Eurocard/Mastercard, American Express, Visa, Diners, remaining cards; 53
 * bytes in all. A trace of a real end of day carries exactly this (60 F0 F5 F3,
 * then 01 70 01 72 03 00 00 00 00 30 00 and six empty blocks).
 */
export interface ZvtIndividualTotals {
  /** 4 digits: receipt number of the first transaction the totals count. */
  receiptFrom: string
  /** 4 digits: of the last one. */
  receiptTo: string
  cardTypes: ZvtCardTypeTotal[]
}

export const ZVT_TOTALS_CARD_TYPES = ['girocard', 'jcb', 'mastercard', 'amex', 'visa', 'diners', 'other'] as const
export type ZvtTotalsCardType = (typeof ZVT_TOTALS_CARD_TYPES)[number]

export interface ZvtCardTypeTotal {
  cardType: ZvtTotalsCardType
  /** 0-99: the count is 1 byte of BCD. */
  count: number
  amountCents: number
}

/** BMP 60's value length: 2 + 2 + 7 × (1 + 6). */
export const ZVT_INDIVIDUAL_TOTALS_BYTES = 53

export function encodeIndividualTotals(totals: ZvtIndividualTotals): Buffer {
  const parts = [encodeBcd(totals.receiptFrom, 2), encodeBcd(totals.receiptTo, 2)]
  for (const cardType of ZVT_TOTALS_CARD_TYPES) {
    const t = totals.cardTypes.find((c) => c.cardType === cardType)
    const count = t?.count ?? 0
    if (!Number.isInteger(count) || count < 0 || count > 99) throw new RangeError(`a card type's count must be 0..99, got ${count}`)
    parts.push(encodeBcd(String(count), 1), encodeAmount(t?.amountCents ?? 0))
  }
  return Buffer.concat(parts)
}

/** Reads BMP 60's value; null when it is not 53 bytes of BCD. Card types with count 0 and amount 0 are left out. */
export function decodeIndividualTotals(value: Uint8Array): ZvtIndividualTotals | null {
  if (value.length !== ZVT_INDIVIDUAL_TOTALS_BYTES) return null
  const receiptFrom = decodeBcd(value.subarray(0, 2))
  const receiptTo = decodeBcd(value.subarray(2, 4))
  if (receiptFrom === null || receiptTo === null) return null
  const cardTypes: ZvtCardTypeTotal[] = []
  for (let i = 0; i < ZVT_TOTALS_CARD_TYPES.length; i++) {
    const at = 4 + i * 7
    const count = decodeBcd(value.subarray(at, at + 1))
    const amountCents = decodeAmount(value.subarray(at + 1, at + 7))
    if (count === null || amountCents === null) return null
    if (Number(count) !== 0 || amountCents !== 0) cardTypes.push({ cardType: ZVT_TOTALS_CARD_TYPES[i]!, count: Number(count), amountCents })
  }
  return { receiptFrom, receiptTo, cardTypes }
}

export type ZvtMessage =
  | { kind: 'registration'; password: string; configByte: number; currency?: number; serviceByte?: number }
  | { kind: 'authorisation'; amountCents: number; currency?: number; paymentType?: number }
  | { kind: 'reversal'; password: string; receiptNumber?: string }
  /** 06 20: the terminal sends its last receipt again (status information, print lines, completion). */
  | { kind: 'repeatReceipt'; password: string }
  /** 06 50: the terminal closes its day with the host and reports the totals (BMP 60). */
  | { kind: 'endOfDay'; password: string }
  /** 06 D1: one line of a receipt; attribute byte, then the text. */
  | { kind: 'printLine'; attribute: number; text: string }
  | { kind: 'statusEnquiry'; password: string; serviceByte?: number }
  | { kind: 'ecrAbort' }
  | { kind: 'ack' }
  | { kind: 'nak'; code: number }
  /**
   * 04 FF: status byte, timeout, and (status FF: "text in the TLV container")
   * a TLV container whose display texts (24 ⊃ 07) are `text`, lines joined by
   * ' / ', control characters removed. `tlvError`: the container was unreadable.
   */
  | { kind: 'intermediateStatus'; status: number; timeoutS?: number; text?: string; tlvError?: string }
  | { kind: 'statusInformation'; info: ZvtStatusInformation }
  | {
      kind: 'completion'
      resultCode?: number
      statusByte?: number
      terminalId?: string
      /** Completion of a status enquiry: the terminal's software version and status code (0 = ready). */
      softwareVersion?: string
      terminalStatus?: number
    }
  /** 06 1E. Some terminals abort without a result code (06 1E 00): still an abort. */
  | { kind: 'abort'; resultCode?: number }
  /** Any other command (print line 06 D1, ...): answered with ACK or NAK by the receiver, otherwise ignored. */
  | { kind: 'other'; cls: number; instr: number; data: Buffer }

export type ZvtMessageKind = ZvtMessage['kind']

export type DecodeZvtResult =
  | { ok: true; message: ZvtMessage }
  | { ok: false; error: 'apdu' | 'malformed'; detail: string; cls?: number; instr?: number }

const HEADER = {
  registration: [0x06, 0x00],
  authorisation: [0x06, 0x01],
  reversal: [0x06, 0x30],
  repeatReceipt: [0x06, 0x20],
  endOfDay: [0x06, 0x50],
  printLine: [0x06, 0xd1],
  statusEnquiry: [0x05, 0x01],
  ecrAbort: [0x06, 0xb0],
  intermediateStatus: [0x04, 0xff],
  statusInformation: [0x04, 0x0f],
  completion: [0x06, 0x0f],
  abort: [0x06, 0x1e],
} as const

function assertByte(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be a byte, got ${v}`)
}

function currencyBytes(currency: number): Buffer {
  if (!Number.isInteger(currency) || currency < 0 || currency > 9999) throw new RangeError(`currency must be an ISO 4217 numeric code, got ${currency}`)
  return encodeBcd(String(currency), 2)
}

function passwordBytes(password: string): Buffer {
  if (!/^[0-9]{6}$/.test(password)) throw new RangeError('the terminal password must be 6 digits')
  return encodeBcd(password, 3)
}

function encodeStatusInformation(info: ZvtStatusInformation): Buffer {
  const parts: Buffer[] = []
  const add = (tag: number, value: Buffer | undefined) => {
    if (value !== undefined) parts.push(encodeBmp(tag, value))
  }
  if (info.resultCode !== undefined) assertByte('resultCode', info.resultCode)
  add(BMP.resultCode, info.resultCode === undefined ? undefined : Buffer.of(info.resultCode))
  add(BMP.amount, info.amountCents === undefined ? undefined : encodeAmount(info.amountCents))
  add(BMP.traceNumber, info.traceNumber === undefined ? undefined : encodeBcd(info.traceNumber, 3))
  add(BMP.time, info.time === undefined ? undefined : encodeBcd(info.time, 3))
  add(BMP.date, info.date === undefined ? undefined : encodeBcd(info.date, 2))
  add(BMP.paymentType, info.paymentType === undefined ? undefined : Buffer.of(info.paymentType))
  add(BMP.maskedPan, info.maskedPan === undefined ? undefined : encodeMaskedPan(info.maskedPan))
  add(BMP.terminalId, info.terminalId === undefined ? undefined : encodeBcd(info.terminalId, 4))
  add(BMP.additionalText, info.additionalText === undefined ? undefined : Buffer.from(info.additionalText, 'latin1'))
  add(BMP.currency, info.currency === undefined ? undefined : currencyBytes(info.currency))
  add(BMP.receiptNumber, info.receiptNumber === undefined ? undefined : encodeBcd(info.receiptNumber, 2))
  add(BMP.turnoverNumber, info.turnoverNumber === undefined ? undefined : encodeBcd(info.turnoverNumber, 3))
  add(BMP.cardType, info.cardType === undefined ? undefined : Buffer.of(info.cardType))
  add(BMP.cardName, info.cardName === undefined ? undefined : Buffer.from(info.cardName, 'latin1'))
  const tlv = encodeZvtTlv(zvtTlvFromFields(tlvFieldsOf(info)))
  add(BMP.tlv, tlv.length > 0 ? tlv : undefined)
  add(BMP.individualTotals, info.totals === undefined ? undefined : encodeIndividualTotals(info.totals))
  return Buffer.concat(parts)
}

/** Encodes a message into its APDU (not yet framed). Throws RangeError on values our own code must not produce. */
export function encodeZvtMessage(message: ZvtMessage): Buffer {
  switch (message.kind) {
    case 'registration': {
      assertByte('configByte', message.configByte)
      const parts = [passwordBytes(message.password), Buffer.of(message.configByte)]
      if (message.currency !== undefined) parts.push(currencyBytes(message.currency))
      if (message.serviceByte !== undefined) {
        assertByte('serviceByte', message.serviceByte)
        parts.push(encodeBmp(BMP.serviceByte, Buffer.of(message.serviceByte)))
      }
      return encodeApdu(...HEADER.registration, Buffer.concat(parts))
    }
    case 'authorisation': {
      const parts = [encodeBmp(BMP.amount, encodeAmount(message.amountCents))]
      if (message.currency !== undefined) parts.push(encodeBmp(BMP.currency, currencyBytes(message.currency)))
      if (message.paymentType !== undefined) {
        assertByte('paymentType', message.paymentType)
        parts.push(encodeBmp(BMP.paymentType, Buffer.of(message.paymentType)))
      }
      return encodeApdu(...HEADER.authorisation, Buffer.concat(parts))
    }
    case 'reversal': {
      const parts = [passwordBytes(message.password)]
      if (message.receiptNumber !== undefined) parts.push(encodeBmp(BMP.receiptNumber, encodeBcd(message.receiptNumber, 2)))
      return encodeApdu(...HEADER.reversal, Buffer.concat(parts))
    }
    case 'repeatReceipt':
      // PA00P015 "Repeat Receipt": the password is the only data (3 bytes BCD).
      return encodeApdu(...HEADER.repeatReceipt, passwordBytes(message.password))
    case 'endOfDay':
      // PA00P015 "End-of-Day": the password is the only data (3 bytes BCD).
      return encodeApdu(...HEADER.endOfDay, passwordBytes(message.password))
    case 'printLine':
      assertByte('attribute', message.attribute)
      return encodeApdu(...HEADER.printLine, Buffer.concat([Buffer.of(message.attribute), Buffer.from(message.text, 'latin1')]))
    case 'statusEnquiry': {
      const parts = [passwordBytes(message.password)]
      if (message.serviceByte !== undefined) {
        assertByte('serviceByte', message.serviceByte)
        parts.push(encodeBmp(BMP.serviceByte, Buffer.of(message.serviceByte)))
      }
      return encodeApdu(...HEADER.statusEnquiry, Buffer.concat(parts))
    }
    case 'ecrAbort':
      return encodeApdu(...HEADER.ecrAbort)
    case 'ack':
      return encodeApdu(0x80, 0x00)
    case 'nak':
      assertByte('code', message.code)
      return encodeApdu(0x84, message.code)
    case 'intermediateStatus': {
      assertByte('status', message.status)
      const data = message.timeoutS === undefined ? Buffer.of(message.status) : Buffer.of(message.status, message.timeoutS)
      if (message.timeoutS !== undefined) assertByte('timeoutS', message.timeoutS)
      if (message.text === undefined) return encodeApdu(...HEADER.intermediateStatus, data)
      // The container follows the timeout byte, so a text needs one.
      if (message.timeoutS === undefined) throw new RangeError('an intermediate status with text needs timeoutS')
      return encodeApdu(...HEADER.intermediateStatus, Buffer.concat([data, encodeBmp(BMP.tlv, encodeZvtTlv(zvtTlvFromFields({ displayText: message.text })))]))
    }
    case 'statusInformation':
      return encodeApdu(...HEADER.statusInformation, encodeStatusInformation(message.info))
    case 'completion': {
      if (message.softwareVersion !== undefined || message.terminalStatus !== undefined) {
        const version = Buffer.from(message.softwareVersion ?? '', 'latin1')
        const status = message.terminalStatus ?? 0
        assertByte('terminalStatus', status)
        return encodeApdu(...HEADER.completion, Buffer.concat([encodeVarLength(version.length, 3), version, Buffer.of(status)]))
      }
      const parts: Buffer[] = []
      if (message.resultCode !== undefined) {
        assertByte('resultCode', message.resultCode)
        parts.push(encodeBmp(BMP.resultCode, Buffer.of(message.resultCode)))
      }
      if (message.statusByte !== undefined) {
        assertByte('statusByte', message.statusByte)
        parts.push(encodeBmp(BMP.paymentType, Buffer.of(message.statusByte)))
      }
      if (message.terminalId !== undefined) parts.push(encodeBmp(BMP.terminalId, encodeBcd(message.terminalId, 4)))
      return encodeApdu(...HEADER.completion, Buffer.concat(parts))
    }
    case 'abort':
      if (message.resultCode === undefined) return encodeApdu(...HEADER.abort)
      assertByte('resultCode', message.resultCode)
      return encodeApdu(...HEADER.abort, Buffer.of(message.resultCode))
    case 'other':
      return encodeApdu(message.cls, message.instr, message.data)
  }
}

type FieldResult<T> = { ok: true; value: T } | { ok: false; detail: string }

const TLV_INFO_FIELDS = ['cardTechnology', 'cardholderVerification', 'aid', 'longReceiptNumber', 'extendedErrorCode', 'extendedErrorText'] as const

function tlvFieldsOf(info: ZvtStatusInformation): ZvtTlvFields {
  const fields: ZvtTlvFields = {}
  for (const name of TLV_INFO_FIELDS) if (info[name] !== undefined) fields[name] = info[name]
  return fields
}

/** BMP 06 of a status information: the fields this project keeps, or why the container could not be read. */
function readStatusTlv(info: ZvtStatusInformation, value: Buffer): void {
  const decoded = decodeZvtTlv(value)
  if (!decoded.ok) {
    info.tlvError = `TLV container: ${decoded.detail}`
    return
  }
  const fields = readZvtTlvFields(decoded.nodes)
  for (const name of TLV_INFO_FIELDS) if (fields[name] !== undefined) info[name] = fields[name]
  // Display text in a status information is what the terminal showed; the result code says the outcome.
  const other = [...(fields.otherTags ?? []), ...(fields.displayText !== undefined ? [0x24] : [])]
  if (other.length > 0) info.otherTlvTags = other
}

function readStatusInformation(fields: BmpField[]): FieldResult<ZvtStatusInformation> {
  const info: ZvtStatusInformation = {}
  const otherTags: number[] = []
  const bcd = (f: BmpField, name: string): string => {
    const digits = decodeBcd(f.value)
    if (digits === null) throw new Error(`${name} is not BCD`)
    return digits
  }
  try {
    for (const f of fields) {
      switch (f.tag) {
        case BMP.resultCode:
          info.resultCode = f.value[0]!
          break
        case BMP.amount: {
          const amount = decodeAmount(f.value)
          if (amount === null) throw new Error('amount is not BCD')
          info.amountCents = amount
          break
        }
        case BMP.traceNumber:
          info.traceNumber = bcd(f, 'trace number')
          break
        case BMP.time:
          info.time = bcd(f, 'time')
          break
        case BMP.date:
          info.date = bcd(f, 'date')
          break
        case BMP.paymentType:
          info.paymentType = f.value[0]!
          break
        case BMP.maskedPan: {
          const pan = decodeMaskedPan(f.value)
          if (pan === null) throw new Error('masked PAN holds other than digits, E and F')
          info.maskedPan = pan
          break
        }
        case BMP.terminalId:
          info.terminalId = bcd(f, 'terminal id')
          break
        case BMP.additionalText:
          info.additionalText = f.value.toString('latin1')
          break
        case BMP.currency:
          info.currency = Number(bcd(f, 'currency'))
          break
        case BMP.receiptNumber:
          info.receiptNumber = bcd(f, 'receipt number')
          break
        case BMP.turnoverNumber:
          info.turnoverNumber = bcd(f, 'turnover number')
          break
        case BMP.cardType:
          info.cardType = f.value[0]!
          break
        case BMP.cardName:
          info.cardName = f.value.toString('latin1').replace(/\0+$/, '') // some terminals pad the name with NULs
          break
        case BMP.individualTotals: {
          const totals = decodeIndividualTotals(f.value)
          if (totals === null) throw new Error(`individual totals (BMP 60) are not ${ZVT_INDIVIDUAL_TOTALS_BYTES} bytes of BCD`)
          info.totals = totals
          break
        }
        case BMP.tlv:
          readStatusTlv(info, f.value)
          break
        default:
          // Expiry date, track data and the like are card data: not kept.
          otherTags.push(f.tag)
      }
    }
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  }
  if (otherTags.length > 0) info.otherTags = otherTags
  return { ok: true, value: info }
}

function malformed(cls: number, instr: number, detail: string): DecodeZvtResult {
  return { ok: false, error: 'malformed', detail, cls, instr }
}

function readPassword(data: Buffer): string | null {
  return data.length >= 3 ? decodeBcd(data.subarray(0, 3)) : null
}

/** Decodes one APDU. Never throws on input. */
export function decodeZvtMessage(bytes: Uint8Array): DecodeZvtResult {
  const decoded = decodeApdu(bytes)
  if (!decoded.ok) return { ok: false, error: 'apdu', detail: decoded.detail }
  const { cls, instr, data } = decoded.apdu
  const key = (cls << 8) | instr

  if (cls === 0x80) return { ok: true, message: { kind: 'ack' } }
  if (cls === 0x84) return { ok: true, message: { kind: 'nak', code: instr } }

  switch (key) {
    case 0x0600: {
      const password = readPassword(data)
      if (password === null || data.length < 4) return malformed(cls, instr, 'registration needs a 3-byte BCD password and a config byte')
      const message: ZvtMessage = { kind: 'registration', password, configByte: data[3]! }
      let i = 4
      if (data.length - i >= 2 && data[i] !== BMP.serviceByte && data[i] !== BMP.tlv) {
        const cc = decodeBcd(data.subarray(i, i + 2))
        if (cc === null) return malformed(cls, instr, 'registration currency is not BCD')
        message.currency = Number(cc)
        i += 2
      }
      const bmps = decodeBmps(data, i)
      if (!bmps.ok) return malformed(cls, instr, bmps.detail)
      const service = bmps.fields.find((f) => f.tag === BMP.serviceByte)
      if (service) message.serviceByte = service.value[0]!
      return { ok: true, message }
    }
    case 0x0601: {
      const bmps = decodeBmps(data)
      if (!bmps.ok) return malformed(cls, instr, bmps.detail)
      const amountField = bmps.fields.find((f) => f.tag === BMP.amount)
      if (!amountField) return malformed(cls, instr, 'authorisation without an amount (BMP 04)')
      const amountCents = decodeAmount(amountField.value)
      if (amountCents === null) return malformed(cls, instr, 'amount is not BCD')
      const message: ZvtMessage = { kind: 'authorisation', amountCents }
      const cc = bmps.fields.find((f) => f.tag === BMP.currency)
      if (cc) {
        const digits = decodeBcd(cc.value)
        if (digits === null) return malformed(cls, instr, 'currency is not BCD')
        message.currency = Number(digits)
      }
      const pt = bmps.fields.find((f) => f.tag === BMP.paymentType)
      if (pt) message.paymentType = pt.value[0]!
      return { ok: true, message }
    }
    case 0x0630: {
      const password = readPassword(data)
      if (password === null) return malformed(cls, instr, 'reversal needs a 3-byte BCD password')
      const bmps = decodeBmps(data, 3)
      if (!bmps.ok) return malformed(cls, instr, bmps.detail)
      const message: ZvtMessage = { kind: 'reversal', password }
      const receipt = bmps.fields.find((f) => f.tag === BMP.receiptNumber)
      if (receipt) {
        const digits = decodeBcd(receipt.value)
        if (digits === null) return malformed(cls, instr, 'receipt number is not BCD')
        message.receiptNumber = digits
      }
      return { ok: true, message }
    }
    case 0x0620:
    case 0x0650: {
      const password = readPassword(data)
      const name = key === 0x0620 ? 'repeat receipt' : 'end of day'
      if (password === null || data.length !== 3) return malformed(cls, instr, `${name} takes a 3-byte BCD password and nothing else`)
      return { ok: true, message: { kind: key === 0x0620 ? 'repeatReceipt' : 'endOfDay', password } }
    }
    case 0x06d1:
      if (data.length < 1) return malformed(cls, instr, 'print line without its attribute byte')
      return { ok: true, message: { kind: 'printLine', attribute: data[0]!, text: data.subarray(1).toString('latin1') } }
    case 0x0501: {
      const password = readPassword(data)
      if (password === null) return malformed(cls, instr, 'status enquiry needs a 3-byte BCD password')
      const bmps = decodeBmps(data, 3)
      if (!bmps.ok) return malformed(cls, instr, bmps.detail)
      const message: ZvtMessage = { kind: 'statusEnquiry', password }
      const service = bmps.fields.find((f) => f.tag === BMP.serviceByte)
      if (service) message.serviceByte = service.value[0]!
      return { ok: true, message }
    }
    case 0x06b0:
      return { ok: true, message: { kind: 'ecrAbort' } }
    case 0x04ff: {
      if (data.length < 1) return malformed(cls, instr, 'intermediate status without its status byte')
      const message: Extract<ZvtMessage, { kind: 'intermediateStatus' }> = { kind: 'intermediateStatus', status: data[0]! }
      if (data.length >= 2) message.timeoutS = data[1]!
      if (data.length > 2) {
        // After the timeout: bitmaps, of which BMP 06 holds the display text.
        const bmps = decodeBmps(data, 2)
        const container = bmps.fields.find((f) => f.tag === BMP.tlv)
        const decoded = container ? decodeZvtTlv(container.value) : null
        if (!bmps.ok) message.tlvError = bmps.detail
        else if (decoded && !decoded.ok) message.tlvError = `TLV container: ${decoded.detail}`
        if (decoded?.ok) {
          const text = readZvtTlvFields(decoded.nodes).displayText
          if (text !== undefined) message.text = text
        }
      }
      return { ok: true, message }
    }
    case 0x040f: {
      const bmps = decodeBmps(data)
      const read = readStatusInformation(bmps.fields)
      if (!read.ok) return malformed(cls, instr, read.detail)
      const info = read.value
      if (!bmps.ok) info.parseError = bmps.detail
      else if (bmps.skipped) info.skippedTags = bmps.skipped.map((s) => s.tag)
      return { ok: true, message: { kind: 'statusInformation', info } }
    }
    case 0x060f: {
      if (data.length === 0) return { ok: true, message: { kind: 'completion' } }
      if ((data[0]! & 0xf0) === 0xf0) {
        const length = decodeVarLength(data, 0, 3)
        if (length === null || data.length < 3 + length + 1) return malformed(cls, instr, 'status enquiry completion: bad software version or missing terminal status')
        return {
          ok: true,
          message: { kind: 'completion', softwareVersion: data.subarray(3, 3 + length).toString('latin1'), terminalStatus: data[3 + length]! },
        }
      }
      const bmps = decodeBmps(data)
      if (!bmps.ok) return malformed(cls, instr, bmps.detail)
      const message: Extract<ZvtMessage, { kind: 'completion' }> = { kind: 'completion' }
      for (const f of bmps.fields) {
        if (f.tag === BMP.resultCode) message.resultCode = f.value[0]!
        else if (f.tag === BMP.paymentType) message.statusByte = f.value[0]!
        else if (f.tag === BMP.terminalId) {
          const tid = decodeBcd(f.value)
          if (tid === null) return malformed(cls, instr, 'terminal id is not BCD')
          message.terminalId = tid
        }
      }
      return { ok: true, message }
    }
    case 0x061e:
      if (data.length < 1) return { ok: true, message: { kind: 'abort' } }
      return { ok: true, message: { kind: 'abort', resultCode: data[0]! } }
    default:
      return { ok: true, message: { kind: 'other', cls, instr, data: Buffer.from(data) } }
  }
}
