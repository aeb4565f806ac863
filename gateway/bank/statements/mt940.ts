// MT940 (SWIFT customer statement) to statement transactions. The tags are
// parsed by mt940js, one tag at a time through its TagFactory, so a malformed
// statement line becomes a problem of its own instead of failing the whole
// file (mt940js's Parser.parse throws for any bad tag). Amounts are read from
// the tag's own text, never from mt940js's rounded floats. The :86: details go
// through mt940js's structure detection: the German ?-subfields (?20-?29
// purpose with the SEPA keywords EREF+, SVWZ+ and RTRN+, ?31 IBAN, ?32/?33 name,
// ?34 the return reason) and
// the SWIFT /TAG/ style (/EREF/, /REMI/, /CNTP/ or /ORDP/, /RTRN/); free text
// stays whole as the reference, since our transfer references may sit in it.
import { createRequire } from 'node:module'
import { amountString, cleanText, clip, currencyCode, endToEndId, isoDate, signedCents, transaction, validIban, type FieldResult } from './fields.js'
import { StatementFormatError, type ParsedStatement, type StatementProblem, type StatementTransaction } from './types.js'

/** The parts of mt940js we use (it ships no typings). */
interface Mt940Tag {
  id: number | string
  data: string
  fields: Record<string, unknown>
}
interface Mt940TagClass {
  PATTERN: RegExp
}
interface Mt940Tags {
  TagFactory: new () => { createTag(id: string, subId: string, data: string): Mt940Tag }
  TagStatementLine: Mt940TagClass
  TagBalance: Mt940TagClass
}
interface Field86Structure {
  parse(details: string): Record<string, string> | undefined
}

const require = createRequire(import.meta.url)
const mt940Tags = require('mt940js/lib/tags') as Mt940Tags
const field86 = require('mt940js/lib/field86structure') as Field86Structure

/** A tag starts a line as :NN: or :NNa: (mt940js's own rule); {…} lines are SWIFT message blocks. */
const TAG_START = /^:([0-9]{2}|NS)([A-Z])?:/

export function looksLikeMt940(text: string): boolean {
  return /^:20:/m.test(text) && /^:(61|62[FM]):/m.test(text)
}

interface RawTag {
  id: string
  subId: string
  data: string
  line: number
}

interface OpenStatement {
  currency?: string
  openingCents?: number
  closingCents?: number
  lineCents: number
  lineProblems: number
  number: number
}

export function parseMt940(text: string): ParsedStatement {
  if (!looksLikeMt940(text)) throw new StatementFormatError('not an MT940 statement: no :20: tag followed by statement lines (:61:) or a closing balance (:62F:)')
  const factory = new mt940Tags.TagFactory()
  const transactions: StatementTransaction[] = []
  const problems: StatementProblem[] = []
  let account: string | undefined
  let index = 0
  let statement: OpenStatement | undefined
  let statementCount = 0
  /** The statement line waiting for its :86: details, or a failed one whose details are skipped. */
  let pending: { line: Mt940Tag; details: string[] } | { failed: true } | undefined

  const flushPending = () => {
    if (pending === undefined) return
    if (!('failed' in pending)) {
      const result = statementLine(pending.line, pending.details, statement)
      if (result.ok) {
        transactions.push(result.value)
        if (statement) statement.lineCents += Math.round(Number(result.value.amount) * 100)
      } else {
        problems.push({ index, message: result.reason })
        if (statement) statement.lineProblems += 1
      }
      index += 1
    }
    pending = undefined
  }
  const closeStatement = () => {
    flushPending()
    if (statement === undefined) return
    const { openingCents, closingCents, lineCents, lineProblems } = statement
    // A missing or malformed line makes the sum differ anyway; that one is reported already.
    if (lineProblems === 0 && openingCents !== undefined && closingCents !== undefined && openingCents + lineCents !== closingCents) {
      problems.push({ index: -1, message: `statement ${statement.number}: opening balance ${amountString(openingCents)} plus its lines ${amountString(lineCents)} is not the closing balance ${amountString(closingCents)}` })
    }
    statement = undefined
  }

  for (const raw of rawTags(text)) {
    if (raw.id === 'MB') continue
    if (raw.id === '86' && pending !== undefined) {
      if (!('failed' in pending)) pending.details.push(raw.data)
      continue
    }
    if (raw.id !== 'NS') flushPending()
    if (raw.id === '20') {
      closeStatement()
      statementCount += 1
      statement = { lineCents: 0, lineProblems: 0, number: statementCount }
    }
    let tag: Mt940Tag
    try {
      tag = factory.createTag(raw.id, raw.subId, raw.data)
    } catch (err) {
      const message = `line ${raw.line}: ${clip((err as Error).message, 80)}`
      if (raw.id === '61') {
        problems.push({ index, message })
        index += 1
        if (statement) statement.lineProblems += 1
        pending = { failed: true }
      } else {
        problems.push({ index: -1, message })
      }
      continue
    }
    if (raw.id === '25') account ??= cleanText(String(tag.fields['accountIdentification'] ?? '')) || undefined
    if (raw.id === '60' || raw.id === '62') {
      const balance = balanceCents(tag)
      if (!balance.ok) problems.push({ index: -1, message: `line ${raw.line}: ${balance.reason}` })
      else if (statement) {
        if (raw.id === '60') {
          statement.openingCents = balance.value.cents
          statement.currency = balance.value.currency
        } else statement.closingCents = balance.value.cents
      }
    }
    if (raw.id === '61') pending = { line: tag, details: [] }
  }
  closeStatement()
  if (statementCount === 0) throw new StatementFormatError('not an MT940 statement: no :20: tag')
  return { format: 'mt940', ...(account !== undefined ? { account } : {}), transactions, problems }
}

/** The file's lines grouped into tags as mt940js groups them (a tag runs until the next tag or message block). */
function rawTags(text: string): RawTag[] {
  const tags: RawTag[] = []
  let current: (RawTag & { lines: string[] }) | undefined
  text.split(/\r?\n/).forEach((line, number) => {
    if (line === '' || line === '-') return
    const match = TAG_START.exec(line)
    if (match || line.startsWith('-}') || line.startsWith('{')) {
      if (current) tags.push({ ...current, data: current.lines.join('\n') })
      current = match
        ? { id: match[1]!, subId: match[2] ?? '', data: '', line: number + 1, lines: [line.slice(match[0].length)] }
        : { id: 'MB', subId: '', data: '', line: number + 1, lines: [line.trim()] }
    } else if (current) current.lines.push(line)
  })
  if (current) tags.push({ ...current, data: current.lines.join('\n') })
  return tags
}

/** MT940 amounts are digits with exactly one decimal comma ("12,34", "12,"). */
function mt940Amount(text: string, mark: string): FieldResult<number> {
  if (!/^\d+,\d{0,2}$/.test(text)) return { ok: false, reason: `amount ${JSON.stringify(clip(text))} is not an MT940 amount (digits with one decimal comma, at most two decimals)` }
  const [units, fraction] = text.split(',') as [string, string]
  // D is money out; R reverses the mark (RC is a reversed credit, so money out).
  const debit = mark.endsWith('D') !== mark.startsWith('R')
  return signedCents(fraction === '' ? units : `${units}.${fraction}`, debit ? 'debit' : 'credit')
}

function balanceCents(tag: Mt940Tag): FieldResult<{ cents: number; currency: string }> {
  const match = mt940Tags.TagBalance.PATTERN.exec(tag.data)
  if (match === null) return { ok: false, reason: 'balance cannot be read' }
  const currency = currencyCode(match[5]!)
  if (!currency.ok) return currency
  if (/^0*,?0*$/.test(match[6]!)) return { ok: true, value: { cents: 0, currency: currency.value } }
  const cents = mt940Amount(match[6]!, match[1]!)
  return cents.ok ? { ok: true, value: { cents: cents.value, currency: currency.value } } : cents
}

function statementLine(tag: Mt940Tag, details: string[], statement: OpenStatement | undefined): FieldResult<StatementTransaction> {
  // Re-run the tag's own pattern for the raw amount text: mt940js's fields.amount is a rounded float.
  const match = mt940Tags.TagStatementLine.PATTERN.exec(tag.data)
  if (match === null) return { ok: false, reason: 'statement line cannot be read' }
  const date = isoDate(`20${match[1]}`, match[2]!, match[3]!)
  if (!date.ok) return date
  const cents = mt940Amount(match[9]!, match[7]!)
  if (!cents.ok) return cents
  if (statement?.currency === undefined) return { ok: false, reason: 'statement line before an opening balance (:60F:) that names the currency' }
  const text = details.join('\n')
  const fromDetails = readDetails(text)
  const lineReference = cleanText(match[11]).toUpperCase() === 'NONREF' ? '' : cleanText(match[11])
  return {
    ok: true,
    value: transaction({
      date: date.value,
      amount: amountString(cents.value),
      currency: statement.currency,
      payer: fromDetails.payer,
      iban: fromDetails.iban,
      reference: fromDetails.reference || lineReference,
      endToEndId: fromDetails.endToEndId,
      returnReason: fromDetails.returnReason,
    }),
  }
}

interface Details {
  payer: string
  iban?: string
  reference: string
  endToEndId?: string
  returnReason?: string
}

/**
 * The SEPA keywords that split the German ?20-?29 purpose text. RTRN+ (the
 * ISO return reason of a returned transfer) is what our simulated bank writes;
 * some German banks give the ISO reason in ?34 instead (returnReasonOf34), and
 * the end-to-end id names the returned payout either way.
 */
const SEPA_KEYWORDS = /(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC|RTRN)\+/g

function readDetails(text: string): Details {
  if (text.trim() === '') return { payer: '', reference: '' }
  const structure = field86.parse(text)
  if (structure !== undefined && Object.keys(structure).some((key) => /^\d\d$/.test(key))) return germanDetails(structure)
  if (structure !== undefined && Object.keys(structure).some((key) => /^[A-Z]{2,4}$/.test(key))) return swiftDetails(structure)
  return { payer: '', reference: cleanText(text) }
}

/** An ISO 20022 return reason code as it stands in ?34 or after RTRN+: AC01, AC04, MD07, but also NARR, FOCR. */
const ISO_RETURN_REASON = /^[A-Z][A-Z0-9]{3}$/
/**
 * ?34 (the German "Textschlüsselergänzung") of a returned transfer holds its
 * reason. An ISO code there (AC04, MD07, ...) is taken as camt.053 takes
 * RtrInf/Rsn/Cd. The banks' own three-digit codes are not: the same field
 * qualifies ordinary bookings too (997, 000, ...), and which number means
 * which return reason is the banks' table, not ours to guess; the end-to-end
 * id finds the returned payout without it.
 */
function returnReasonOf34(value: string | undefined): string | undefined {
  const code = cleanText(value)
  return ISO_RETURN_REASON.test(code) ? code : undefined
}

function germanDetails(fields: Record<string, string>): Details {
  const purposeKeys = ['20', '21', '22', '23', '24', '25', '26', '27', '28', '29', '60', '61', '62', '63']
  // A subfield holds 27 characters and a long purpose simply continues in the next one.
  const purpose = purposeKeys.map((key) => fields[key] ?? '').join('')
  const keyed = new Map<string, string>()
  const parts = purpose.split(SEPA_KEYWORDS)
  for (let i = 1; i + 1 < parts.length; i += 2) keyed.set(parts[i]!, cleanText(parts[i + 1]))
  const reference = keyed.size === 0 ? cleanText(purpose) : keyed.get('SVWZ') ?? cleanText(parts[0])
  return {
    payer: cleanText(`${fields['32'] ?? ''}${fields['33'] ?? ''}`),
    iban: validIban(fields['31']),
    reference,
    endToEndId: endToEndId(keyed.get('EREF')),
    ...optionalReturnReason(/^[A-Z0-9]{4}\b/.test(keyed.get('RTRN') ?? '') ? keyed.get('RTRN')!.slice(0, 4) : returnReasonOf34(fields['34'])),
  }
}

const optionalReturnReason = (reason: string | undefined): { returnReason?: string } => (reason === undefined ? {} : { returnReason: reason })

function swiftDetails(fields: Record<string, string>): Details {
  const value = (key: string) => (fields[key] === undefined ? undefined : fields[key]!.replace(/\/+$/, ''))
  // /CNTP/iban/bic/name/city and /ORDP//NAME/name: the counterparty as SWIFT-style banks write it.
  const counterparty = (value('CNTP') ?? value('BENM') ?? value('ORDP') ?? '').split('/')
  const named = value('NAME')
  const ibanPart = counterparty.find((part) => validIban(part) !== undefined)
  const payer = named ?? (counterparty.length >= 3 ? counterparty[2] : undefined) ?? ''
  // /REMI/USTD//text or /REMI/STRD/CUR/ref: the remittance after its kind.
  const remittance = (value('REMI') ?? '').replace(/^(USTD|STRD)\/+(CUR\/+)?/, '')
  const returnReason = cleanText(value('RTRN')?.split('/')[0])
  return {
    payer: cleanText(payer),
    iban: validIban(value('IBAN') ?? ibanPart),
    reference: cleanText(remittance),
    endToEndId: endToEndId(value('EREF')),
    ...(returnReason !== '' ? { returnReason } : {}),
  }
}
