// CAMT.053 (ISO 20022 bank-to-customer statement, XML) to statement
// transactions, read with fast-xml-parser. Entity and DTD processing are off,
// and a document that declares a DOCTYPE is refused outright: a bank's CAMT
// file never has one, and an external entity (XXE) must never be resolved.
// Every booked entry gives one transaction per transaction detail (a batch
// booking has many), with the direction, amount and currency, the booking or
// value date, the other party's name and IBAN, the remittance information, the
// end-to-end id and the return reason of a returned transfer.
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { amountString, cleanText, clip, currencyCode, endToEndId, isoDateFromIso, signedCents, transaction, validIban, type FieldResult } from './fields.js'
import { StatementFormatError, type ParsedStatement, type StatementProblem, type StatementTransaction } from './types.js'

/** A parsed XML element: child elements by local name, text as '#text', attributes as '@_name'. */
type XmlNode = { [name: string]: unknown }

/** Elements that may repeat: always arrays, so one entry and many read alike. */
const REPEATED = new Set(['Stmt', 'Ntry', 'NtryDtls', 'TxDtls', 'Ustrd', 'Strd', 'AddtlNtryInf'])

function xmlParser(): XMLParser {
  return new XMLParser({
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
    isArray: (name) => REPEATED.has(name),
  })
}

/** Whether the text looks like a CAMT.053 document (used to detect the format). */
export function looksLikeCamt053(text: string): boolean {
  return /^\s*</.test(text) && /<(\w+:)?BkToCstmrStmt[\s>]/.test(text)
}

/** The parsed document; the validator passes some XML the parser still refuses (a quote missing in the declaration): that too is not well-formed. */
function parseXml(text: string): XmlNode {
  try {
    return xmlParser().parse(text) as XmlNode
  } catch (err) {
    throw new StatementFormatError(`not a CAMT.053 statement: the XML is not well-formed (${String((err as Error)?.message ?? err).slice(0, 200)})`)
  }
}

export function parseCamt053(text: string): ParsedStatement {
  if (!/^\s*</.test(text)) throw new StatementFormatError('not a CAMT.053 statement: the file is not XML')
  // Before any parsing: no DTD, so no entity of any kind can be declared, internal or external.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new StatementFormatError('CAMT.053 statement refused: it declares a DOCTYPE or entities (DTDs and entities are never processed)')
  const wellFormed = XMLValidator.validate(text)
  if (wellFormed !== true) throw new StatementFormatError(`not a CAMT.053 statement: the XML is not well-formed (line ${wellFormed.err.line}: ${wellFormed.err.msg})`)
  const document = child(parseXml(text), 'Document')
  const statements = children(child(document, 'BkToCstmrStmt'), 'Stmt')
  if (document === undefined || statements.length === 0) throw new StatementFormatError('not a CAMT.053 statement: no Document/BkToCstmrStmt/Stmt element')

  const transactions: StatementTransaction[] = []
  const problems: StatementProblem[] = []
  let index = 0
  let account: string | undefined
  for (const statement of statements) {
    const ownIban = text_(path(statement, 'Acct', 'Id', 'IBAN'))
    const ownAccount = ownIban ?? text_(path(statement, 'Acct', 'Id', 'Othr', 'Id'))
    account ??= ownAccount
    for (const entry of children(statement, 'Ntry')) {
      for (const result of entryTransactions(entry, validIban(ownIban))) {
        if (result.ok) transactions.push(result.value)
        else problems.push({ index, message: result.reason })
        index += 1
      }
    }
  }
  return { format: 'camt053', ...(account !== undefined ? { account } : {}), transactions, problems }
}

/** One result per transaction detail of the entry (one for an entry without details). */
function entryTransactions(entry: XmlNode, ownIban: string | undefined): Array<FieldResult<StatementTransaction>> {
  const status = text_(entry['Sts']) ?? text_(path(entry, 'Sts', 'Cd'))
  const details = children(entry, 'NtryDtls').flatMap((group) => children(group, 'TxDtls'))
  const count = Math.max(details.length, 1)
  const all = (reason: string) => Array.from({ length: count }, () => ({ ok: false as const, reason }))
  if (status !== undefined && status !== 'BOOK') return all(`entry status ${JSON.stringify(clip(status))} is not booked (BOOK)`)

  const entryDirection = direction(text_(entry['CdtDbtInd']))
  if (!entryDirection.ok) return all(entryDirection.reason)
  const date = entryDate(entry)
  if (!date.ok) return all(date.reason)
  const entryAmount = amountOf(entry['Amt'])
  if (details.length === 0) {
    const entryInfo = children(entry, 'AddtlNtryInf').map((info) => text_(info) ?? '').join(' ')
    return [build(entryAmount, entryDirection.value, date.value, {}, cleanText(entryInfo))]
  }
  return details.map((detail) => {
    // A detail has its own amount in a batch booking; a single detail may leave it to the entry.
    const detailAmount = detail['Amt'] !== undefined ? amountOf(detail['Amt']) : path(detail, 'AmtDtls', 'TxAmt', 'Amt') !== undefined ? amountOf(path(detail, 'AmtDtls', 'TxAmt', 'Amt')) : undefined
    if (detailAmount === undefined && details.length > 1) return { ok: false as const, reason: 'transaction detail of a batch booking has no amount of its own' }
    const detailDirection = detail['CdtDbtInd'] !== undefined ? direction(text_(detail['CdtDbtInd'])) : entryDirection
    if (!detailDirection.ok) return detailDirection
    return build(detailAmount ?? entryAmount, detailDirection.value, date.value, detail, remittance(detail), ownIban)
  })
}

function build(
  amount: FieldResult<{ unsigned: string; currency: string }>,
  way: 'credit' | 'debit',
  date: string,
  detail: XmlNode,
  reference: string,
  ownIban?: string,
): FieldResult<StatementTransaction> {
  if (!amount.ok) return amount
  const cents = signedCents(amount.value.unsigned, way)
  if (!cents.ok) return cents
  const currency = currencyCode(amount.value.currency)
  if (!currency.ok) return currency
  const party = otherParty(detail, way, ownIban)
  const returnReason = cleanText(text_(path(detail, 'RtrInf', 'Rsn', 'Cd')) ?? text_(path(detail, 'RtrInf', 'Rsn', 'Prtry')))
  return {
    ok: true,
    value: transaction({
      date,
      amount: amountString(cents.value),
      currency: currency.value,
      payer: party.name,
      iban: party.iban,
      reference,
      endToEndId: endToEndId(text_(path(detail, 'Refs', 'EndToEndId'))),
      returnReason: returnReason === '' ? undefined : returnReason,
    }),
  }
}

function direction(indicator: string | undefined): FieldResult<'credit' | 'debit'> {
  if (indicator === 'CRDT') return { ok: true, value: 'credit' }
  if (indicator === 'DBIT') return { ok: true, value: 'debit' }
  return { ok: false, reason: `credit/debit indicator ${JSON.stringify(clip(indicator ?? ''))} is neither CRDT nor DBIT` }
}

function amountOf(node: unknown): FieldResult<{ unsigned: string; currency: string }> {
  if (!isNode(node)) return typeof node === 'string' ? { ok: false, reason: 'amount has no currency (Ccy)' } : { ok: false, reason: 'entry has no amount' }
  const unsigned = text_(node)
  const currency = node['@_Ccy']
  if (unsigned === undefined) return { ok: false, reason: 'entry has no amount' }
  if (typeof currency !== 'string') return { ok: false, reason: 'amount has no currency (Ccy)' }
  return { ok: true, value: { unsigned, currency } }
}

/** The booking date, else the value date (a date-time counts by its date). */
function entryDate(entry: XmlNode): FieldResult<string> {
  for (const field of ['BookgDt', 'ValDt']) {
    const value = text_(path(entry, field, 'Dt')) ?? text_(path(entry, field, 'DtTm'))
    if (value !== undefined) return isoDateFromIso(value)
  }
  return { ok: false, reason: 'entry has neither a booking nor a value date' }
}

/**
 * The party on the other side: for a credit the debtor, for a debit the
 * creditor, unless that one is our own account or not named at all (a
 * returned payout may keep the original parties, where the debtor is us and
 * the creditor is the guest).
 */
function otherParty(detail: XmlNode, way: 'credit' | 'debit', ownIban: string | undefined): { name: string; iban?: string } {
  const parties = path(detail, 'RltdPties')
  const party = (role: 'Dbtr' | 'Cdtr') => {
    // Up to camt.053.001.07 the name is Dbtr/Nm, from .08 on Dbtr/Pty/Nm.
    const name = cleanText(text_(path(parties, role, 'Nm')) ?? text_(path(parties, role, 'Pty', 'Nm')))
    const iban = validIban(text_(path(parties, `${role}Acct`, 'Id', 'IBAN')))
    return { name, ...(iban !== undefined ? { iban } : {}) }
  }
  const [first, second] = way === 'credit' ? [party('Dbtr'), party('Cdtr')] : [party('Cdtr'), party('Dbtr')]
  const named = (party: { name: string; iban?: string }) => party.name !== '' || party.iban !== undefined
  // The other role when this one is us, or when the bank named only the other (some returns do).
  if (named(second) && ((ownIban !== undefined && first.iban === ownIban) || !named(first))) return second
  return first
}

/** Unstructured lines and structured creditor references, in file order, as one text. */
function remittance(detail: XmlNode): string {
  const info = path(detail, 'RmtInf')
  const lines = children(info, 'Ustrd').map((line) => text_(line) ?? '')
  const references = children(info, 'Strd').map((structured) => text_(path(structured, 'CdtrRefInf', 'Ref')) ?? '')
  return cleanText([...lines, ...references].filter((part) => part !== '').join(' '))
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function child(node: unknown, name: string): XmlNode | undefined {
  if (!isNode(node)) return undefined
  const value = node[name]
  if (Array.isArray(value)) return isNode(value[0]) ? value[0] : undefined
  return isNode(value) ? value : typeof value === 'string' ? { '#text': value } : undefined
}

function children(node: unknown, name: string): XmlNode[] {
  if (!isNode(node)) return []
  const value = node[name]
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value]
  return list.map((item) => (isNode(item) ? item : { '#text': String(item) }))
}

function path(node: unknown, ...names: string[]): XmlNode | undefined {
  let current: XmlNode | undefined = isNode(node) ? node : undefined
  for (const name of names) current = child(current, name)
  return current
}

/** An element's text with XML's own character references decoded (entity processing is off, so the parser leaves them). */
function text_(node: unknown): string | undefined {
  const raw = typeof node === 'string' ? node : isNode(node) && typeof node['#text'] === 'string' ? node['#text'] : undefined
  return raw === undefined ? undefined : decodeCharacterReferences(raw)
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

/**
 * XML's five predefined entities and numeric character references: part of
 * XML itself, not of any DTD. Anything else (&name; of a declared entity) stays
 * as written, never resolved.
 */
function decodeCharacterReferences(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, name: string) => {
    if (name.startsWith('#')) {
      const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10)
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole
    }
    return PREDEFINED[name] ?? whole
  })
}
