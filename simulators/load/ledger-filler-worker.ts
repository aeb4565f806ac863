// The ledger filler's signing thread (ledger-filler.ts starts one per core):
// it plays its share of the filled kiosks, builds each kiosk's envelopes in
// chain order, signs and hashes them, and posts them to the filler in batches,
// which writes them. At most MAX_UNACKED batches are on their way at a time, so
// a writer that falls behind slows the signing instead of filling memory.
//
// The thread runs as plain JavaScript (`new Worker(source, { eval: true,
// execArgv: [] })`): a thread that loads the TypeScript loader takes seconds to
// start. So it imports nothing of ours: it writes the RFC 8785 form and the
// UUIDv7 itself, for the values it makes (objects, arrays, strings, integers),
// and ledger-filler.test.ts checks them against the ledger's own.
import type { Line } from '../../device-protocol/index.js'

export interface FillerWorkerChain {
  id: string
  /** PKCS#8 DER. */
  privateKey: Uint8Array
  nextSeq: number
  lastHash: string
  /** This kiosk's wristbands, each with its balance before the fill. */
  wristbands: Array<[uid: string, balance: number]>
}

export interface FillerWorkerData {
  chains: FillerWorkerChain[]
  lines: Line[]
  saleAmount: number
  topupAmount: number
  salesPerWristband: number
  /** The kiosk clock of a chain's transaction j: startAtMs + j * stepMs. */
  startAtMs: number
  stepMs: number
  batch: number
}

/** One signed, hashed transaction: [id, kiosk, seq, type, uid, amount, balanceAfter, hash, canonical envelope, at]. */
export type FilledRow = [string, string, number, 'topup_cash' | 'sale', string, number, number, string, string, number]

export type FillerWorkerMessage = { kind: 'rows'; rows: FilledRow[] } | { kind: 'done'; chains: Array<{ id: string; nextSeq: number; lastHash: string }> }

/** The thread's body; its text (compiled) is what the thread runs, so it may use only `require` of Node's own modules. */
async function signingThread(): Promise<void> {
  const MAX_UNACKED = 8
  const { createHash, createPrivateKey, randomFillSync, sign } = require('node:crypto') as typeof import('node:crypto')
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads')
  const data = workerData as FillerWorkerData
  const port = parentPort!

  /** RFC 8785 for objects, arrays, strings and safe integers: sorted keys, JSON's own strings and numbers. */
  const canonical = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
    if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value).filter(([, v]) => v !== undefined)
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
    }
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`the filler writes integers only, not ${value}`)
    return JSON.stringify(value)
  }
  /** RFC 9562 UUIDv7: 48 bits of Unix ms, version 7, 74 random bits with the variant. Random bytes from a pool: one system call per 4,096 ids. */
  const POOL_IDS = 4_096
  const random = Buffer.alloc(10 * POOL_IDS)
  let pooled = POOL_IDS
  const uuidv7 = (ms: number): string => {
    if (pooled === POOL_IDS) {
      randomFillSync(random)
      pooled = 0
    }
    const at = 10 * pooled++
    random[at + 2] = (random[at + 2]! & 0x3f) | 0x80
    const hex = ms.toString(16).padStart(12, '0') + '7' + random.toString('hex', at, at + 10).slice(0, 3) + random.toString('hex', at + 2, at + 10)
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
  }

  let unacked = 0
  let wake: (() => void) | undefined
  port.on('message', () => {
    unacked -= 1
    wake?.()
  })
  const chains = data.chains.map((c) => {
    const plan: Array<[uid: string, sale: boolean]> = []
    for (const [uid] of c.wristbands) plan.push([uid, false])
    for (let s = 0; s < data.salesPerWristband; s++) for (const [uid] of c.wristbands) plan.push([uid, true])
    return { ...c, kioskJson: JSON.stringify(c.id), key: createPrivateKey({ key: Buffer.from(c.privateKey), format: 'der', type: 'pkcs8' }), balances: new Map(c.wristbands), plan }
  })
  const linesJson = canonical(data.lines)
  // The written-out form below holds integers as JSON writes them, as RFC 8785 does for safe integers.
  if (![data.saleAmount, data.topupAmount].every(Number.isSafeInteger)) throw new TypeError('the filler writes integers only')
  const longest = Math.max(0, ...chains.map((c) => c.plan.length))
  let rows: FilledRow[] = []
  const post = async () => {
    if (rows.length === 0) return
    while (unacked >= MAX_UNACKED) await new Promise<void>((resolve) => (wake = resolve))
    unacked += 1
    port.postMessage({ kind: 'rows', rows } satisfies FillerWorkerMessage)
    rows = []
  }
  // Step j of every chain, then step j + 1: the rows come in about the order of their time.
  for (let j = 0; j < longest; j++) {
    const at = Math.round(data.startAtMs + j * data.stepMs)
    for (const chain of chains) {
      const step = chain.plan[j]
      if (step === undefined) continue
      const [uid, sale] = step
      const amount = sale ? data.saleAmount : data.topupAmount
      const type = sale ? 'sale' : 'topup_cash'
      const id = uuidv7(at)
      // canonical({ v: 1, id, kiosk, seq, prev, type, tag: { uid, type: 'ntag215' }, lines, amount, at }), its keys in RFC 8785's order, written out.
      const signed =
        `{"amount":${amount},"at":${at},"id":${JSON.stringify(id)},"kiosk":${chain.kioskJson},"lines":${sale ? linesJson : '[]'},` +
        `"prev":${JSON.stringify(chain.lastHash)},"seq":${chain.nextSeq},"tag":{"type":"ntag215","uid":${JSON.stringify(uid)}},"type":"${type}","v":1}`
      const signature = sign(null, Buffer.from(signed, 'utf8'), chain.key).toString('base64')
      // { sig, tx }: its two keys in order, the transaction as it was signed.
      const envelope = `{"sig":${JSON.stringify(signature)},"tx":${signed}}`
      const hash = createHash('sha256').update(envelope, 'utf8').digest('hex')
      const balanceAfter = chain.balances.get(uid)! + (sale ? -amount : amount)
      chain.balances.set(uid, balanceAfter)
      rows.push([id, chain.id, chain.nextSeq, type, uid, amount, balanceAfter, hash, envelope, at])
      chain.nextSeq += 1
      chain.lastHash = hash
      if (rows.length >= data.batch) await post()
    }
  }
  await post()
  port.postMessage({ kind: 'done', chains: chains.map((c) => ({ id: c.id, nextSeq: c.nextSeq, lastHash: c.lastHash })) } satisfies FillerWorkerMessage)
  port.close()
}

/** What `new Worker(…, { eval: true })` runs. */
export const SIGNING_THREAD_SOURCE = `(${signingThread.toString()})().catch((err) => { console.error(err); process.exit(1) })`
