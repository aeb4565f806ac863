// Each kiosk's stored chain, recomputed: every envelope's hash, its signature
// (against the key the kiosk's key history says was current for its seq), its link to the one before (from genesis, without gaps), the columns the
// gateway derived from it, and the kiosk's cursor at the end. Pure: it gets
// the rows, the database is read elsewhere.
import { createHash, type KeyObject } from 'node:crypto'
import { GENESIS_HASH, publicKeyFromBase64Url, validateEnvelope, verifyEnvelope, type Envelope } from '../../device-protocol/index.js'
import { finding, type AuditFinding } from './findings.js'

/** One row of kiosk_key_history: `publicKey` signs the kiosk's envelopes from seq `fromSeq` on. */
export interface KeyPeriod {
  publicKey: string
  fromSeq: number
  /**
   * Seeded when the history began (migration 22): the key was current then,
   * but older envelopes may carry a key replaced before, which nothing kept.
   */
  seeded: boolean
}

export interface StoredKiosk {
  id: string
  publicKey: string | null
  nextSeq: number
  lastHash: string
  /** The kiosk's key history, oldest first (by from_seq, then by when it was written). */
  keyHistory?: readonly KeyPeriod[]
}

export interface StoredTransaction {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  hash: string
  envelope: string
}

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

function parseEnvelope(text: string): Envelope | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const checked = validateEnvelope(value)
  return checked.ok ? checked.value : undefined
}

function importKey(publicKey: string | null): KeyObject | undefined {
  if (publicKey === null) return undefined
  try {
    return publicKeyFromBase64Url(publicKey)
  } catch {
    return undefined
  }
}

interface KeyForSeq {
  key: KeyObject | undefined
  /** Whether the history can tell this was the key for the seq: false for seeded periods and seqs before the first period. */
  known: boolean
}

/**
 * The periods the audit trusts: the history when its newest key is the
 * kiosk's current key; otherwise (no history, or a key set past it, as only
 * plain SQL can) the current key alone, which the history cannot vouch for.
 */
function keyPeriods(kiosk: StoredKiosk): Array<{ fromSeq: number; key: KeyObject | undefined; known: boolean }> {
  const history = kiosk.keyHistory ?? []
  if (history.length > 0 && history.at(-1)!.publicKey === kiosk.publicKey)
    return history.map((p) => ({ fromSeq: p.fromSeq, key: importKey(p.publicKey), known: !p.seeded }))
  return kiosk.publicKey === null ? [] : [{ fromSeq: 1, key: importKey(kiosk.publicKey), known: false }]
}

/** The key for `seq`: the newest period from at most `seq`; before the first period, its key at a guess. */
function keyForSeq(periods: ReturnType<typeof keyPeriods>, seq: number): KeyForSeq {
  let current: (typeof periods)[number] | undefined
  for (const p of periods) if (p.fromSeq <= seq) current = p
  if (current !== undefined) return { key: current.key, known: current.known }
  return { key: periods[0]?.key, known: false }
}

/** One kiosk's chain; `transactions` are that kiosk's rows in any order. */
export function auditKioskChain(kiosk: StoredKiosk, transactions: readonly StoredTransaction[]): AuditFinding[] {
  const findings: AuditFinding[] = []
  const rows = [...transactions].sort((a, b) => a.seq - b.seq)
  const periods = keyPeriods(kiosk)
  const withoutKey = rows.filter((row) => keyForSeq(periods, row.seq).key === undefined).length
  if (withoutKey > 0)
    findings.push(finding('signature_no_key', { kind: 'kiosk', id: kiosk.id }, `kiosk ${kiosk.id} has ${withoutKey} stored envelopes but no usable public key for them: their signatures cannot be checked`))

  // Signature failures wait until we know whether a later envelope verifies (see signature_key_changed).
  const failedSignatures: Array<{ row: StoredTransaction; chainIntact: boolean; keyKnown: boolean }> = []
  let anyVerified = false
  let expectedSeq = 1
  let previousHash = GENESIS_HASH
  let chainIntact = true
  for (const row of rows) {
    const tx = { kind: 'transaction' as const, id: row.id }
    if (row.seq !== expectedSeq) {
      findings.push(finding('chain_gap', { kind: 'kiosk', id: kiosk.id }, `kiosk ${kiosk.id}: seq ${expectedSeq}${row.seq - 1 > expectedSeq ? `..${row.seq - 1}` : ''} missing before ${row.id} (seq ${row.seq})`))
      chainIntact = false
    }
    expectedSeq = row.seq + 1
    const recomputedHash = sha256Hex(row.envelope)
    if (recomputedHash !== row.hash) {
      findings.push(finding('envelope_hash_mismatch', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): stored hash ${row.hash.slice(0, 12)}… but its envelope hashes to ${recomputedHash.slice(0, 12)}…`))
      chainIntact = false
    }
    const envelope = parseEnvelope(row.envelope)
    if (envelope === undefined) {
      findings.push(finding('envelope_unreadable', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): the stored envelope is not a valid signed transaction`))
      previousHash = recomputedHash
      chainIntact = false
      continue
    }
    const t = envelope.tx
    const differences = [
      t.id !== row.id && `id ${t.id}`,
      t.kiosk !== row.kiosk && `kiosk ${t.kiosk}`,
      t.seq !== row.seq && `seq ${t.seq}`,
      t.type !== row.type && `type ${t.type}`,
      t.tag.uid !== row.tag && `wristband ${t.tag.uid}`,
      t.amount !== row.amount && `amount ${t.amount}`,
    ].filter((d): d is string => typeof d === 'string')
    if (differences.length > 0)
      findings.push(finding('transaction_differs_from_envelope', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): the signed envelope says ${differences.join(', ')}; the stored row says otherwise`))
    if (t.prev !== previousHash) {
      findings.push(finding('chain_prev_mismatch', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): prev ${t.prev.slice(0, 12)}… is not the hash of the envelope before it (${previousHash.slice(0, 12)}…)`))
      chainIntact = false
    }
    previousHash = recomputedHash
    const { key, known } = keyForSeq(periods, row.seq)
    if (key !== undefined) {
      if (verifyEnvelope(envelope, key)) anyVerified = true
      else failedSignatures.push({ row, chainIntact: chainIntact && !anyVerified, keyKnown: known })
    }
  }
  for (const { row, chainIntact: intact, keyKnown } of failedSignatures) {
    const tx = { kind: 'transaction' as const, id: row.id }
    // Where the history cannot tell the key, a prefix of an intact chain that fails while later envelopes pass is what a replaced key looks like.
    if (intact && !keyKnown)
      findings.push(
        finding(
          'signature_key_changed',
          tx,
          `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}) does not verify against the oldest key the gateway knows for the kiosk, and its key history cannot tell which key was current for this seq ` +
            `(it begins later, or with the key the kiosk had when the history began); its chain is intact, so it was probably signed with a key replaced before that`,
        ),
      )
    else
      findings.push(
        finding('signature_invalid', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): the signature does not verify against the key ${keyKnown ? "the kiosk's key history names for this seq" : "the gateway knows for the kiosk"}`),
      )
  }
  const storedNext = rows.length === 0 ? 1 : rows.at(-1)!.seq + 1
  const storedLast = rows.length === 0 ? GENESIS_HASH : rows.at(-1)!.hash
  if (kiosk.nextSeq !== storedNext || kiosk.lastHash !== storedLast)
    findings.push(
      finding('chain_cursor_mismatch', { kind: 'kiosk', id: kiosk.id }, `kiosk ${kiosk.id}: cursor says next seq ${kiosk.nextSeq}, last hash ${kiosk.lastHash.slice(0, 12)}…; its stored chain ends at seq ${storedNext - 1}, hash ${storedLast.slice(0, 12)}…`),
    )
  return findings
}
