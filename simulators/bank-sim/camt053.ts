// The simulated bank executes a pain.001 and writes the account statement a
// real bank would send back: CAMT.053 (camt.053.001.02, the version most banks
// still send), one booked debit per transfer on the execution date, and for a
// share of them a returned transfer a few days later: a credit with the
// original end-to-end id, the bank transaction code PMNT/ICDT/RRTN and an ISO
// return reason (AC04 closed account, ...). Which transfers come back and why
// depends only on the seed, so a demo or a test can replay a payout cycle.
// Other incoming transfers of the same period (a guest's bank top-up with
// their transfer reference) can be booked in the same statement.
// Pure: no clock, no I/O; the XML is built with fast-xml-parser's builder.
import { XMLBuilder } from 'fast-xml-parser'
import { decimalStringFromCents } from '../../device-protocol/money.js'
import { seededRandom } from '../seeded-random.js'
import { parsePain001, type Pain001Order, type Pain001Transfer } from './pain001.js'

export interface StatementOptions {
  /** Share of the transfers that come back, 0 to 1: exactly round(share × count) of them, chosen by the seed. Default 0. */
  returnShare?: number
  /** Seed of the choice of returns and their reasons (a non-negative integer). Default 1. */
  seed?: number
  /** Days after the execution date on which returns are booked. Default 3. */
  returnDelayDays?: number
  /** The account's balance before the payouts, cents. Default: the sum of the transfers (the account ends at the returned sum). */
  openingBalanceCents?: number
  /** Other transfers that came into the account in the same period (a guest's bank top-up), booked as received credit transfers. */
  credits?: readonly IncomingCredit[]
}

/** A transfer someone else sent to the account. */
export interface IncomingCredit {
  amountCents: number
  /** Who sent it. */
  payer: string
  /** The payer's account. */
  iban: string
  /** The remittance text the payer typed (a guest's transfer reference). */
  reference: string
  /** Booking date, YYYY-MM-DD; default the execution date of the order. */
  date?: string
}

export interface ReturnedTransfer {
  endToEndId: string
  amountCents: number
  /** ISO 20022 external return reason code. */
  reason: ReturnReasonCode
  /** Booking date of the return, YYYY-MM-DD. */
  date: string
}

export interface SimulatedStatement {
  xml: string
  /** The account (the pain.001's debtor IBAN). */
  account: string
  currency: string
  openingBalanceCents: number
  closingBalanceCents: number
  /** Every transfer, as booked out. */
  debitedCents: number
  /** The incoming credits (options.credits), as booked in. */
  creditedCents: number
  returned: ReturnedTransfer[]
}

/** The return reasons the simulated bank gives, from the ISO 20022 external return reason code list. */
export const RETURN_REASONS = {
  AC01: 'Incorrect account number',
  AC04: 'Closed account number',
  AC06: 'Blocked account',
  AG01: 'Transaction forbidden',
  MS03: 'Reason not specified',
} as const
export type ReturnReasonCode = keyof typeof RETURN_REASONS
const REASON_CODES = Object.keys(RETURN_REASONS) as ReturnReasonCode[]

/** Refused options (a share outside 0..1, a negative seed ...). */
export class StatementOptionsError extends Error {
  override name = 'StatementOptionsError'
}

function addDays(date: string, days: number): string {
  const ms = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000
  return new Date(ms).toISOString().slice(0, 10)
}

const DATE = /^\d{4}-\d{2}-\d{2}$/

function checkCredits(credits: readonly IncomingCredit[] | undefined): readonly IncomingCredit[] {
  if (credits === undefined) return []
  if (!Array.isArray(credits)) throw new StatementOptionsError('credits must be a list')
  for (const credit of credits) {
    if (!Number.isSafeInteger(credit?.amountCents) || credit.amountCents <= 0) throw new StatementOptionsError('a credit needs a positive amount in cents')
    if (typeof credit.payer !== 'string' || typeof credit.iban !== 'string' || typeof credit.reference !== 'string') throw new StatementOptionsError('a credit needs a payer, an IBAN and a reference')
    if (credit.date !== undefined && !(DATE.test(credit.date) && !Number.isNaN(Date.parse(`${credit.date}T00:00:00Z`)))) throw new StatementOptionsError('a credit\'s date must be YYYY-MM-DD')
  }
  return credits
}

function checkOptions(options: StatementOptions): Omit<Required<StatementOptions>, 'credits'> & { openingBalanceCents: number | undefined; credits: readonly IncomingCredit[] } {
  const returnShare = options.returnShare ?? 0
  if (typeof returnShare !== 'number' || !(returnShare >= 0 && returnShare <= 1)) throw new StatementOptionsError('the share of returns must be a number from 0 to 1')
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(seed) || seed < 0) throw new StatementOptionsError('the seed must be a non-negative integer')
  const returnDelayDays = options.returnDelayDays ?? 3
  if (!Number.isSafeInteger(returnDelayDays) || returnDelayDays < 0 || returnDelayDays > 60) throw new StatementOptionsError('the return delay must be 0 to 60 days')
  const opening = options.openingBalanceCents
  if (opening !== undefined && !Number.isSafeInteger(opening)) throw new StatementOptionsError('the opening balance must be integer cents')
  return { returnShare, seed, returnDelayDays, openingBalanceCents: opening as number, credits: checkCredits(options.credits) }
}

/** Which transfers come back: round(share × count) of them, picked by a seeded shuffle, in file order, each with a reason. */
export function chooseReturns(transfers: readonly Pain001Transfer[], returnShare: number, seed: number): Map<string, ReturnReasonCode> {
  const random = seededRandom(seed)
  const order = transfers.map((_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const count = Math.round(returnShare * transfers.length)
  const chosen = order.slice(0, count).sort((a, b) => a - b)
  return new Map(chosen.map((i) => [transfers[i]!.endToEndId, REASON_CODES[Math.floor(random() * REASON_CODES.length)]!]))
}

const amount = (cents: number, currency: string) => ({ '@_Ccy': currency, '#text': decimalStringFromCents(cents) })
const iban = (value: string) => ({ Id: { IBAN: value } })
/** Issued credit transfers (ICDT) and their returns, or a received one (RCDT). */
const transactionCode = (subFamily: 'ESCT' | 'RRTN', family: 'ICDT' | 'RCDT' = 'ICDT') => ({ Domn: { Cd: 'PMNT', Fmly: { Cd: family, SubFmlyCd: subFamily } } })
const balance = (code: 'OPBD' | 'CLBD', cents: number, currency: string, date: string) => ({
  Tp: { CdOrPrtry: { Cd: code } },
  Amt: amount(Math.abs(cents), currency),
  CdtDbtInd: cents < 0 ? 'DBIT' : 'CRDT',
  Dt: { Dt: date },
})

/** The statement for an executed pain.001 order. */
export function statementForOrder(order: Pain001Order, options: StatementOptions = {}): SimulatedStatement {
  const { returnShare, seed, returnDelayDays, openingBalanceCents, credits } = checkOptions(options)
  const currency = order.transfers[0]!.currency
  if (order.transfers.some((t) => t.currency !== currency)) throw new StatementOptionsError('the transfers are in more than one currency; the account has one')
  const returns = chooseReturns(order.transfers, returnShare, seed)
  const bookedOn = order.executionDate
  const returnedOn = addDays(bookedOn, returnDelayDays)

  const debitedCents = order.transfers.reduce((sum, t) => sum + t.amountCents, 0)
  const returned: ReturnedTransfer[] = order.transfers
    .filter((t) => returns.has(t.endToEndId))
    .map((t) => ({ endToEndId: t.endToEndId, amountCents: t.amountCents, reason: returns.get(t.endToEndId)!, date: returnedOn }))
  const returnedCents = returned.reduce((sum, r) => sum + r.amountCents, 0)
  const creditedCents = credits.reduce((sum, c) => sum + c.amountCents, 0)
  const opening = openingBalanceCents ?? debitedCents
  const closing = opening - debitedCents + returnedCents + creditedCents

  let reference = 0
  const nextReference = () => `SIM${seed}-${String(++reference).padStart(6, '0')}`
  const debtorParty = { Nm: order.debtor.name }
  const entries = [
    ...order.transfers.map((t) => {
      const ref = nextReference()
      return {
        Amt: amount(t.amountCents, currency),
        CdtDbtInd: 'DBIT',
        Sts: 'BOOK',
        BookgDt: { Dt: bookedOn },
        ValDt: { Dt: bookedOn },
        AcctSvcrRef: ref,
        BkTxCd: transactionCode('ESCT'),
        NtryDtls: {
          TxDtls: {
            Refs: { MsgId: order.messageId, AcctSvcrRef: ref, EndToEndId: t.endToEndId },
            AmtDtls: { TxAmt: { Amt: amount(t.amountCents, currency) } },
            RltdPties: { Dbtr: debtorParty, DbtrAcct: iban(order.debtor.iban), Cdtr: { Nm: t.name }, CdtrAcct: iban(t.iban) },
            ...(t.bic ? { RltdAgts: { CdtrAgt: { FinInstnId: { BIC: t.bic } } } } : {}),
            ...(t.remittance ? { RmtInf: { Ustrd: t.remittance } } : {}),
          },
        },
      }
    }),
    ...credits.map((c) => {
      const ref = nextReference()
      const on = c.date ?? bookedOn
      return {
        Amt: amount(c.amountCents, currency),
        CdtDbtInd: 'CRDT',
        Sts: 'BOOK',
        BookgDt: { Dt: on },
        ValDt: { Dt: on },
        AcctSvcrRef: ref,
        BkTxCd: transactionCode('ESCT', 'RCDT'),
        NtryDtls: {
          TxDtls: {
            Refs: { AcctSvcrRef: ref, EndToEndId: 'NOTPROVIDED' },
            AmtDtls: { TxAmt: { Amt: amount(c.amountCents, currency) } },
            RltdPties: { Dbtr: { Nm: c.payer }, DbtrAcct: iban(c.iban), Cdtr: debtorParty, CdtrAcct: iban(order.debtor.iban) },
            RmtInf: { Ustrd: c.reference },
          },
        },
      }
    }),
    ...order.transfers
      .filter((t) => returns.has(t.endToEndId))
      .map((t) => {
        const ref = nextReference()
        const reason = returns.get(t.endToEndId)!
        return {
          Amt: amount(t.amountCents, currency),
          CdtDbtInd: 'CRDT',
          Sts: 'BOOK',
          BookgDt: { Dt: returnedOn },
          ValDt: { Dt: returnedOn },
          AcctSvcrRef: ref,
          BkTxCd: transactionCode('RRTN'),
          NtryDtls: {
            TxDtls: {
              Refs: { AcctSvcrRef: ref, EndToEndId: t.endToEndId },
              AmtDtls: { TxAmt: { Amt: amount(t.amountCents, currency) } },
              // The money comes back from the guest's bank: they are the debtor of the return.
              RltdPties: { Dbtr: { Nm: t.name }, DbtrAcct: iban(t.iban), Cdtr: debtorParty, CdtrAcct: iban(order.debtor.iban) },
              ...(t.remittance ? { RmtInf: { Ustrd: t.remittance } } : {}),
              RtrInf: { Rsn: { Cd: reason }, AddtlInf: RETURN_REASONS[reason] },
            },
          },
        }
      }),
  ]

  const lastDate = [bookedOn, ...(returned.length > 0 ? [returnedOn] : []), ...credits.map((c) => c.date ?? bookedOn)].sort().at(-1)!
  const createdAt = `${addDays(lastDate, 1)}T06:00:00`
  const statementId = `S${seed}-${order.messageId}`.slice(0, 35)
  const document = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    Document: {
      '@_xmlns': 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.02',
      '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
      BkToCstmrStmt: {
        GrpHdr: { MsgId: statementId, CreDtTm: createdAt },
        Stmt: {
          Id: statementId,
          ElctrncSeqNb: 1,
          CreDtTm: createdAt,
          FrToDt: { FrDtTm: `${bookedOn}T00:00:00`, ToDtTm: `${lastDate}T23:59:59` },
          Acct: {
            ...iban(order.debtor.iban),
            Ccy: currency,
            Ownr: { Nm: order.debtor.name },
            ...(order.debtor.bic ? { Svcr: { FinInstnId: { BIC: order.debtor.bic } } } : {}),
          },
          Bal: [balance('OPBD', opening, currency, bookedOn), balance('CLBD', closing, currency, lastDate)],
          TxsSummry: {
            TtlNtries: {
              NbOfNtries: entries.length,
              Sum: decimalStringFromCents(debitedCents + returnedCents + creditedCents),
              TtlNetNtryAmt: decimalStringFromCents(Math.abs(returnedCents + creditedCents - debitedCents)),
              CdtDbtInd: returnedCents + creditedCents - debitedCents < 0 ? 'DBIT' : 'CRDT',
            },
            TtlCdtNtries: { NbOfNtries: returned.length + credits.length, Sum: decimalStringFromCents(returnedCents + creditedCents) },
            TtlDbtNtries: { NbOfNtries: order.transfers.length, Sum: decimalStringFromCents(debitedCents) },
          },
          Ntry: entries,
        },
      },
    },
  }
  const xml = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, indentBy: '  ', suppressEmptyNode: true }).build(document) as string
  return { xml, account: order.debtor.iban, currency, openingBalanceCents: opening, closingBalanceCents: closing, debitedCents, creditedCents, returned }
}

/** A pain.001 file in, the CAMT.053 statement of its execution out. */
export function bankStatementFromPain(painXml: string, options: StatementOptions & { maxBytes?: number } = {}): SimulatedStatement {
  const { maxBytes, ...statementOptions } = options
  return statementForOrder(parsePain001(painXml, maxBytes === undefined ? {} : { maxBytes }), statementOptions)
}
