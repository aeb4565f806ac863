// An exported payout run as the files the organiser's bank takes: SEPA credit
// transfers (pain.001.001.09 and .03) and a CSV, written by gateway/bank/
// sepa-export.ts. This module only says what a run's payments are: who, which
// IBAN, how much, which end-to-end id and what the guest reads on the statement.
import { electronicFormatIBAN, isValidIBAN } from 'ibantools'
import { SepaExportError, renderPain001, renderPayoutCsv, toSepaText, type PayoutFile } from '../bank/sepa-export.js'
import type { PayoutRun } from './payout-runs.js'

export interface PayoutDebtor {
  /** The organiser's account holder, as the bank knows it. */
  holder: string
  iban: string
  bic?: string
}

export interface PayoutFileOptions {
  debtor: PayoutDebtor
  /** The event's name: the initiating party and the guests' remittance text. */
  eventName: string
  /** 'YYYY-MM-DD'; the day the run was exported when absent. */
  executionDate?: string
}

/** The longest name a pain.001 file carries (Cdtr/Nm). */
const PAYEE_NAME_MAX = 70

/**
 * Why a guest's payout data cannot go into the bank files, or null when it
 * can: the holder name through the renderer's own transliteration
 * (toSepaText: a name with no Latin spelling, or longer than 70 characters
 * after it, is refused) and the IBAN as the renderer checks it. Payout items
 * carry no BIC (the portal does not ask for one), so there is none to check.
 * The payout runs ask this when a run is made, so that an export never meets
 * a guest it cannot write.
 */
export function payeeProblem(payee: { accountName: string; iban: string }): string | null {
  const iban = electronicFormatIBAN(payee.iban)
  if (iban === null || !isValidIBAN(iban)) return 'the IBAN is not valid'
  try {
    toSepaText(payee.accountName, 'the account holder name', PAYEE_NAME_MAX)
  } catch (err) {
    if (err instanceof SepaExportError) return err.message
    throw err
  }
  return null
}

/** The run's payments as sepa-export takes them; refuses a run that is not exported (its money is not booked). */
export function payoutFileOf(run: PayoutRun, options: PayoutFileOptions): PayoutFile {
  if (run.state !== 'exported' || run.exportedAt === null) throw new Error(`payout run ${run.id} is ${run.state}: only an exported run becomes a bank file`)
  return {
    // Unique per gateway and run; the same run gives the same id, so a bank that already took the file refuses it again.
    messageId: `WP-RUN-${run.id}-${new Date(run.createdAt).toISOString().slice(0, 10).replace(/-/g, '')}`,
    createdAt: run.exportedAt,
    initiatingParty: options.debtor.holder,
    debtor: { name: options.debtor.holder, iban: options.debtor.iban, ...(options.debtor.bic === undefined ? {} : { bic: options.debtor.bic }) },
    executionDate: options.executionDate ?? new Date(run.exportedAt).toISOString().slice(0, 10),
    payments: run.items.map((item) => ({
      endToEndId: item.endToEndId,
      name: item.accountName,
      iban: item.iban,
      amountCents: item.amount,
      remittance: `${options.eventName} balance payout ${item.endToEndId}`.slice(0, 140),
    })),
  }
}

/** The three files of an exported run, by file name. */
export function renderPayoutFiles(run: PayoutRun, options: PayoutFileOptions): Record<string, string> {
  const file = payoutFileOf(run, options)
  return {
    [`payout-run-${run.id}.pain.001.001.09.xml`]: renderPain001(file, 'pain.001.001.09'),
    [`payout-run-${run.id}.pain.001.001.03.xml`]: renderPain001(file, 'pain.001.001.03'),
    [`payout-run-${run.id}.csv`]: renderPayoutCsv(file),
  }
}
