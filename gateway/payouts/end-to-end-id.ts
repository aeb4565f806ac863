// End-to-end ids of payouts: the bank carries them through a credit transfer
// and back on a return, so a returned transfer finds its payout. SEPA allows
// at most 35 characters of a restricted set; ours use only A-Z, 0-9 and '-'
// (never a leading or trailing '/' or a '//', which SEPA also forbids). The run
// and the position make them unique within one database; the random part keeps
// two gateways (a test event, a restored backup) from ever issuing the same one.
import { randomBytes } from 'node:crypto'

export const MAX_END_TO_END_ID_LENGTH = 35
/** Letters and digits without 0/O and 1/I, which a person reading a statement confuses. */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
const SEPA_SAFE = /^[A-Z0-9-]{1,35}$/

/** Eight characters from a CSPRNG (40 bits). */
export function randomSuffix(): string {
  const bytes = randomBytes(8)
  let out = ''
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length]
  return out
}

export function endToEndId(runId: number, position: number, suffix: string): string {
  if (!Number.isSafeInteger(runId) || runId < 1 || !Number.isSafeInteger(position) || position < 1) throw new Error('run id and position must be positive integers')
  const id = `WP-R${runId}-${position}-${suffix}`
  if (!isEndToEndId(id)) throw new Error(`end-to-end id ${JSON.stringify(id)} is not SEPA-safe or longer than ${MAX_END_TO_END_ID_LENGTH}`)
  return id
}

export function isEndToEndId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= MAX_END_TO_END_ID_LENGTH && SEPA_SAFE.test(id)
}
