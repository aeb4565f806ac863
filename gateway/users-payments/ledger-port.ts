// The ledger operations this API relies on, and nothing more (tests may pass a
// real ledger; a narrower type says what the payments and linking code touch).
import { LedgerRefusalError, type Ledger } from '../ledger/index.js'
import type { Registry } from '../registry/index.js'

export type UsersLedger = Pick<Ledger, 'ensureAccount' | 'bookExternal' | 'accountBalance' | 'wristband'> & { registry: Pick<Registry, 'verifyPin'> }

/** The refusal code of a ledger error, undefined for any other error. */
export function ledgerRefusalCode(err: unknown): string | undefined {
  return err instanceof LedgerRefusalError ? err.code : undefined
}
