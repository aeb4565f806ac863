// Test code only: what the tests of several gateways on one PostgreSQL
// database share (pg-concurrent.test.ts, pg-gateway-kill.test.ts): a seeded
// scenario of signed envelopes from six kiosks, gateways in child processes
// (pg-gateway-child.ts), one gateway booking alone for reference, and the
// ledger as rows to compare two databases by.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { Envelope } from '../../../device-protocol/index.js'
import type { PgConnection } from '../../postgres/connection.js'
import { openLedgerDatabase } from '../db.js'
import { createPgLedgerStore } from '../pg-store.js'
import { concurrentSetup, KIOSK_IDS, WRISTBANDS, type Answers, type GatewayChildCommand, type GatewayChildData, type GatewayChildMessage } from './pg-gateway-child.js'
import { createLedgerOverStore, fixedClock, SigningKiosk, UID } from './test-helpers.js'

/** A small seeded generator (mulberry32): every run books the same scenario. */
export function seeded(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }
}

const PER_KIOSK = 24
const WARM_UP_CENTS = 200_000

export interface Scenario {
  publicKeys: Record<string, string>
  warmUp: Envelope[]
  /** Every envelope, in the order one gateway receives them (kiosks interleaved, each in its own order). */
  all: Envelope[]
}

/** The run's kiosks, each with its own key, and their public keys for the event set-up. */
export function signingKiosks(): { kiosks: Record<(typeof KIOSK_IDS)[number], SigningKiosk>; publicKeys: Record<string, string> } {
  const kiosks = Object.fromEntries(KIOSK_IDS.map((id) => [id, new SigningKiosk(id)])) as Record<(typeof KIOSK_IDS)[number], SigningKiosk>
  return { kiosks, publicKeys: Object.fromEntries(KIOSK_IDS.map((id) => [id, kiosks[id].keys.publicKeyBase64Url])) }
}

export function scenario(seed: number): Scenario {
  const random = seeded(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  const { kiosks, publicKeys } = signingKiosks()
  const warmUp = WRISTBANDS.map((uid) => kiosks['cash-1'].topup(uid, WARM_UP_CENTS))
  const streams = new Map<string, Envelope[]>(KIOSK_IDS.map((id) => [id, []]))
  for (const id of KIOSK_IDS) {
    const kiosk = kiosks[id]
    for (let i = 0; i < PER_KIOSK; i++) {
      const uid = random() < 0.05 ? UID.blocked : pick(WRISTBANDS)
      let envelope: Envelope
      if (id.startsWith('cash')) envelope = kiosk.topup(uid, 100 * (1 + Math.floor(random() * 50)))
      else if (id.startsWith('bar')) envelope = kiosk.sale(uid, [{ product: pick(['beer', 'water']), qty: 1 + Math.floor(random() * 3), unitPrice: 0 }].map((l) => ({ ...l, unitPrice: l.product === 'beer' ? 450 : 200 })))
      else if (random() < 0.3) envelope = kiosk.topup(uid, 500)
      else if (random() < 0.1) envelope = kiosk.sale(uid, [{ product: 'beer', qty: 1, unitPrice: 450 }]) // not sold at food: a refusal
      else envelope = kiosk.sale(uid, [{ product: 'fries', qty: 1 + Math.floor(random() * 2), unitPrice: 350 }])
      streams.get(id)!.push(envelope)
    }
  }
  // Interleave the kiosks at random, each kiosk's envelopes staying in order.
  const all: Envelope[] = []
  const left = [...streams.values()].map((s) => [...s])
  while (left.some((s) => s.length > 0)) all.push(pick(left.filter((s) => s.length > 0)).shift()!)
  return { publicKeys, warmUp, all }
}

/** Cuts a stream into batches of 1 to `max` envelopes. */
export function batchesOf(envelopes: readonly Envelope[], max: number, random: () => number): Envelope[][] {
  const batches: Envelope[][] = []
  for (let i = 0; i < envelopes.length; ) {
    const size = 1 + Math.floor(random() * max)
    batches.push(envelopes.slice(i, i + size))
    i += size
  }
  return batches
}

/** One gateway in this thread: books `batches` in order (the reference), returns its answers. */
export function bookAlone(url: string, publicKeys: Record<string, string>, batches: readonly Envelope[][]): Answers {
  const store = createPgLedgerStore({ url })
  try {
    const ledger = createLedgerOverStore({ db: openLedgerDatabase(':memory:'), clock: fixedClock(), store })
    ledger.registry.importEventSetup(concurrentSetup(publicKeys))
    const answers: Answers = {}
    for (const batch of batches) {
      ledger.applyBatch(batch.map((envelope) => ({ envelope }))).forEach((o, i) => {
        if (o.kind !== 'result') throw new Error(`one gateway in order got a gap at ${batch[i]!.tx.kiosk}`)
        answers[batch[i]!.tx.id] = { status: o.result.status, reason: o.result.reason ?? null, replay: o.replay }
      })
    }
    return answers
  } finally {
    store.close()
  }
}

export interface RunningGateway {
  child: ChildProcess
  send(command: GatewayChildCommand): void
  /** Gives it (again: a child serves several tests, as its start costs seconds of CPU) the data of a run; it answers 'ready'. */
  load(data: GatewayChildData): void
  /** The next message of the given kind, or a 'failed' one. */
  next(kind: GatewayChildMessage['kind']): Promise<GatewayChildMessage>
  exited: Promise<void>
}

/** A gateway in a child process with the test's TypeScript loader, given its data if there is; ends with the test `t`. */
export function startGateway(t: Test, data?: GatewayChildData): RunningGateway {
  const child = fork(fileURLToPath(new URL('./pg-gateway-child.ts', import.meta.url)), [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const inbox: GatewayChildMessage[] = []
  const waiting: Array<() => void> = []
  let gone = false
  const wake = () => waiting.splice(0).forEach((w) => w())
  child.on('message', (m: GatewayChildMessage) => (inbox.push(m), wake()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), wake(), resolve())))
  t.teardown(async () => {
    if (!gone) child.kill('SIGKILL')
    await exited
  })
  async function next(kind: GatewayChildMessage['kind']): Promise<GatewayChildMessage> {
    for (;;) {
      const i = inbox.findIndex((m) => m.kind === kind || m.kind === 'failed')
      if (i >= 0) return inbox.splice(i, 1)[0]!
      if (gone) throw new Error(`the gateway process exited before sending '${kind}'`)
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
  }
  const load = (data: GatewayChildData) => child.send({ kind: 'data', data } satisfies GatewayChildCommand)
  if (data !== undefined) load(data)
  return { child, send: (command) => child.send(command), load, next, exited }
}

/** Starts the gateways, waits until all are ready, then lets them book at once; resolves to their last messages. */
export async function bookTogether(gateways: readonly RunningGateway[]): Promise<GatewayChildMessage[]> {
  for (const g of gateways) await g.next('ready')
  for (const g of gateways) g.send({ kind: 'go' })
  return Promise.all(gateways.map((g) => g.next('done')))
}

/** The ledger as rows, for comparing two databases: what depends on the order across kiosks (balance_after, receipt ids, write order) left out. */
export function ledgerRows(conn: PgConnection) {
  return {
    transactions: conn.query(
      `SELECT id, kiosk, seq, type, tag, amount, status, reason, hash, envelope, booked_at, booth, payment_ref, staff, result_extras, offline, cancelled_by
       FROM transactions ORDER BY kiosk COLLATE "C", seq`,
    ),
    postings: conn.query(`SELECT tx_id, account, amount FROM postings ORDER BY tx_id COLLATE "C", account COLLATE "C", amount`),
    accounts: conn.query(`SELECT id, kind, ref, balance FROM accounts ORDER BY id COLLATE "C"`),
    cursors: conn.query(`SELECT kiosk, next_seq, last_hash FROM kiosk_cursors ORDER BY kiosk COLLATE "C"`),
    lineItems: conn.query(`SELECT tx_id, line_no, product, name, kind, qty, unit_price, total, tax_rate, tax FROM line_items ORDER BY tx_id COLLATE "C", line_no`),
    externalBookings: conn.query(`SELECT count(*) AS n FROM external_bookings`),
  }
}

export const statusOnly = (answers: Answers) => Object.fromEntries(Object.entries(answers).map(([id, a]) => [id, { status: a.status, reason: a.reason }]))

