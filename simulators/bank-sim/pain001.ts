// The bank's side of a SEPA credit transfer file: reads a pain.001 (versions
// .03 and .09, and others of the same shape) into the transfers it orders.
// Read with fast-xml-parser with entity processing off; a document that
// declares a DOCTYPE or entities is refused before parsing, so no entity,
// internal or external, is ever resolved (XXE, "billion laughs").
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { centsFromDecimalString } from '../../device-protocol/money.js'

export interface Pain001Transfer {
  endToEndId: string
  amountCents: number
  currency: string
  /** The creditor (payee). */
  name: string
  iban: string
  bic?: string
  remittance: string
}

export interface Pain001Order {
  messageId: string
  /** The ordering party's (debtor's) account: the account the statement is for. */
  debtor: { name: string; iban: string; bic?: string }
  /** Requested execution date of the first payment block, YYYY-MM-DD. */
  executionDate: string
  transfers: Pain001Transfer[]
}

/** The file is not a pain.001 the simulated bank takes; the message says why. */
export class Pain001Error extends Error {
  override name = 'Pain001Error'
}

/** Larger files are refused before parsing (a real payout run is far smaller). */
export const DEFAULT_MAX_PAIN_BYTES = 20 * 1024 * 1024
/** The SEPA maximum of one transfer, 999,999,999.99. */
const MAX_TRANSFER_CENTS = 99_999_999_999

type XmlNode = { [name: string]: unknown }

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value]
}

function at(node: unknown, ...names: string[]): unknown {
  let current = node
  for (const name of names) current = isNode(current) ? current[name] : undefined
  return current
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

/** XML's five predefined entities and numeric references (part of XML itself, not of a DTD); nothing else is decoded. */
export function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, name: string) => {
    if (!name.startsWith('#')) return PREDEFINED[name] ?? whole
    const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10)
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole
  })
}

function text(node: unknown): string | undefined {
  const raw = typeof node === 'string' ? node : isNode(node) && typeof node['#text'] === 'string' ? node['#text'] : undefined
  return raw === undefined ? undefined : decodeXmlText(raw)
}

function required(node: unknown, what: string): string {
  const value = text(node)
  if (value === undefined || value.trim() === '') throw new Pain001Error(`pain.001 has no ${what}`)
  return value.trim()
}

/** Reads a pain.001 credit transfer initiation; throws Pain001Error for anything else. */
export function parsePain001(xml: string, options: { maxBytes?: number } = {}): Pain001Order {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PAIN_BYTES
  if (typeof xml !== 'string') throw new Pain001Error('pain.001 must be text')
  const size = Buffer.byteLength(xml, 'utf8')
  if (size > maxBytes) throw new Pain001Error(`pain.001 file is ${size} bytes, over the limit of ${maxBytes}`)
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new Pain001Error('pain.001 refused: it declares a DOCTYPE or entities (never processed)')
  const wellFormed = XMLValidator.validate(xml)
  if (wellFormed !== true) throw new Pain001Error(`pain.001 is not well-formed XML (line ${wellFormed.err.line}: ${wellFormed.err.msg})`)
  const parsed = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    trimValues: true,
  }).parse(xml) as XmlNode

  const root = at(parsed, 'Document', 'CstmrCdtTrfInitn')
  if (!isNode(root)) throw new Pain001Error('not a pain.001 credit transfer: no Document/CstmrCdtTrfInitn element')
  const messageId = required(at(root, 'GrpHdr', 'MsgId'), 'GrpHdr/MsgId')
  const blocks = list(root['PmtInf'])
  if (blocks.length === 0) throw new Pain001Error('pain.001 has no payment block (PmtInf)')

  let debtor: Pain001Order['debtor'] | undefined
  let executionDate: string | undefined
  const transfers: Pain001Transfer[] = []
  const seen = new Set<string>()
  for (const block of blocks) {
    const iban = required(at(block, 'DbtrAcct', 'Id', 'IBAN'), 'debtor IBAN (DbtrAcct/Id/IBAN)')
    const bic = text(at(block, 'DbtrAgt', 'FinInstnId', 'BICFI')) ?? text(at(block, 'DbtrAgt', 'FinInstnId', 'BIC'))
    debtor ??= { name: required(at(block, 'Dbtr', 'Nm'), 'debtor name (Dbtr/Nm)'), iban, ...(bic ? { bic } : {}) }
    if (iban !== debtor.iban) throw new Pain001Error('pain.001 debits more than one account; the simulated bank keeps one statement per file')
    // .03 has ReqdExctnDt as a date; from .08 on it is a choice of Dt and DtTm.
    const requested = text(at(block, 'ReqdExctnDt')) ?? text(at(block, 'ReqdExctnDt', 'Dt')) ?? text(at(block, 'ReqdExctnDt', 'DtTm'))?.slice(0, 10)
    if (requested === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(requested) || Number.isNaN(Date.parse(`${requested}T00:00:00Z`))) {
      throw new Pain001Error('pain.001 has no readable execution date (ReqdExctnDt)')
    }
    executionDate ??= requested
    for (const tx of list(at(block, 'CdtTrfTxInf'))) {
      const endToEndId = required(at(tx, 'PmtId', 'EndToEndId'), 'end-to-end id (PmtId/EndToEndId)')
      if (seen.has(endToEndId)) throw new Pain001Error(`pain.001 uses the end-to-end id ${JSON.stringify(endToEndId)} twice`)
      seen.add(endToEndId)
      const amount = at(tx, 'Amt', 'InstdAmt')
      const amountText = required(amount, `amount of ${endToEndId}`)
      const amountCents = centsFromDecimalString(amountText, MAX_TRANSFER_CENTS)
      if (amountCents === undefined || amountCents === 0) throw new Pain001Error(`amount of ${endToEndId} is not a positive amount with at most two decimals`)
      const currency = text(at(amount, '@_Ccy'))
      if (currency === undefined || !/^[A-Z]{3}$/.test(currency)) throw new Pain001Error(`amount of ${endToEndId} has no currency`)
      const creditorBic = text(at(tx, 'CdtrAgt', 'FinInstnId', 'BICFI')) ?? text(at(tx, 'CdtrAgt', 'FinInstnId', 'BIC'))
      transfers.push({
        endToEndId,
        amountCents,
        currency,
        name: required(at(tx, 'Cdtr', 'Nm'), `creditor name of ${endToEndId}`),
        iban: required(at(tx, 'CdtrAcct', 'Id', 'IBAN'), `creditor IBAN of ${endToEndId}`),
        ...(creditorBic ? { bic: creditorBic } : {}),
        remittance: list(at(tx, 'RmtInf', 'Ustrd'))
          .map((line) => text(line) ?? '')
          .join(' ')
          .trim(),
      })
    }
  }
  if (transfers.length === 0) throw new Pain001Error('pain.001 orders no transfer (CdtTrfTxInf)')
  return { messageId, debtor: debtor!, executionDate: executionDate!, transfers }
}
