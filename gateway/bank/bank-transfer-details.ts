// What a guest needs for a top-up by bank transfer before the event: their
// transfer reference and the organiser's account from the event set-up
// (portal.bankAccount). The portal page shows it; without an account the event
// takes no bank transfers.
import { electronicFormatIBAN, friendlyFormatIBAN } from 'ibantools'
import type { PortalBankAccount } from '../event-setup.js'
import type { TransferCodes } from './transfer-codes.js'

export interface BankTransferDetails {
  reference: string
  referenceDisplay: string
  accountHolder: string
  /** In groups of four, as people read it. */
  iban: string
  bic: string | null
}

export function bankTransferDetails({ transferCodes, bankAccount }: { transferCodes: TransferCodes; bankAccount: () => PortalBankAccount | undefined }) {
  return (uid: string): BankTransferDetails | undefined => {
    const account = bankAccount()
    if (account === undefined) return undefined
    const ref = transferCodes.referenceOf(uid)
    const iban = electronicFormatIBAN(account.iban) ?? account.iban
    return { reference: ref.compact, referenceDisplay: ref.display, accountHolder: account.holder, iban: friendlyFormatIBAN(iban) ?? iban, bic: account.bic?.toUpperCase() ?? null }
  }
}
