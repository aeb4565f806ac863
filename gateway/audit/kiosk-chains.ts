// Each kiosk's stored chain, recomputed: every envelope's hash, its signature,
// its link to the one before (from genesis, without gaps), the columns the
// gateway derived from it, and the kiosk's cursor at the end. Pure: it gets
// the rows, the database is read elsewhere.
import { createHash, type KeyObject } from 'node:crypto'
import { GENESIS_HASH, publicKeyFromBase64Url, validateEnvelope, verifyEnvelope, type Envelope } from '../../device-protocol/index.js'
import { finding, type AuditFinding } from './findings.js'

export interface StoredKiosk {
  id: string
  publicKey: string | null
  nextSeq: number
  lastHash: string
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

/** One kiosk's chain; `transactions` are that kiosk's rows in any order. */
export function auditKioskChain(kiosk: StoredKiosk, transactions: readonly StoredTransaction[]): AuditFinding[] {
  const findings: AuditFinding[] = []
  const rows = [...transactions].sort((a, b) => a.seq - b.seq)
  const key = importKey(kiosk.publicKey)
  if (rows.length > 0 && key === undefined)
    findings.push(finding('signature_no_key', { kind: 'kiosk', id: kiosk.id }, `kiosk ${kiosk.id} has ${rows.length} stored envelopes but no usable public key: their signatures cannot be checked`))

  // Signature failures wait until we know whether a later envelope verifies (see signature_key_changed).
  const failedSignatures: Array<{ row: StoredTransaction; chainIntact: boolean }> = []
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
    if (key !== undefined) {
      if (verifyEnvelope(envelope, key)) anyVerified = true
      else failedSignatures.push({ row, chainIntact: chainIntact && !anyVerified })
    }
  }
  for (const { row, chainIntact: intact } of failedSignatures) {
    const tx = { kind: 'transaction' as const, id: row.id }
    // Without a key history, a prefix of an intact chain that fails while later envelopes pass is what a replaced key looks like.
    if (intact)
      findings.push(finding('signature_key_changed', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}) does not verify against the kiosk's current key; its chain is intact, so it was probably signed with a key replaced since (no key history is stored)`))
    else findings.push(finding('signature_invalid', tx, `transaction ${row.id} (kiosk ${kiosk.id} seq ${row.seq}): the signature does not verify against the kiosk's key`))
  }
  const storedNext = rows.length === 0 ? 1 : rows.at(-1)!.seq + 1
  const storedLast = rows.length === 0 ? GENESIS_HASH : rows.at(-1)!.hash
  if (kiosk.nextSeq !== storedNext || kiosk.lastHash !== storedLast)
    findings.push(
      finding('chain_cursor_mismatch', { kind: 'kiosk', id: kiosk.id }, `kiosk ${kiosk.id}: cursor says next seq ${kiosk.nextSeq}, last hash ${kiosk.lastHash.slice(0, 12)}…; its stored chain ends at seq ${storedNext - 1}, hash ${storedLast.slice(0, 12)}…`),
    )
  return findings
}
