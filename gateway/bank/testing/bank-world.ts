// A gateway's bank import in one process for tests: a SQLite ledger (or the
// ledger on a database of a test engine, world-engines.ts) with the test event, the import jobs and queue, the pretix-style API and the admin
// routes on the gateway's HTTP server (app.inject), and a fake payout module.
import { Writable } from 'node:stream'
import pino from 'pino'
import type { Test } from 'tap'
import { createHttpServer, type HttpServer } from '../../http.js'
import { makeWorld, type TestWorld } from '../../ledger/testing/test-helpers.js'
import { bankAdmin } from '../bank-admin.js'
import { bankImportApi } from '../bank-import-plugin.js'
import { createBankImportJobs, type BankImportJobs, type PayoutReturns, type ReturnedPayout } from '../import-jobs.js'
import { createImportQueue, type ImportQueue } from '../import-queue.js'
import { createTransferCodes, type TransferCodes } from '../transfer-codes.js'
import type { SqlDatabase } from '../../sql/database.js'
import type { WorldDatabase } from '../../testing/world-engines.js'

export const API_TOKEN = 'bank-api-token-0123456789abcdef'
export const ORGANIZER = 'test-fest'
export const JOBS_PATH = `/api/v1/organizers/${ORGANIZER}/bankimportjobs/`

export interface FakePayouts extends PayoutReturns {
  payouts: Map<string, ReturnedPayout>
  returned: string[]
}

export function fakePayouts(): FakePayouts {
  const payouts = new Map<string, ReturnedPayout>()
  const returned: string[] = []
  return {
    payouts,
    returned,
    findPayoutByEndToEndId: (id) => payouts.get(id),
    markPayoutReturned: (id) => void returned.push(id),
  }
}

export interface BankWorld {
  world: TestWorld<SqlDatabase>
  codes: TransferCodes
  jobs: BankImportJobs
  queue: ImportQueue
  http: HttpServer
  payouts: FakePayouts
  alerts: Array<{ kind: string; message: string }>
  logs: string[]
  /** POSTs a job with the API token. */
  upload(body: unknown): Promise<{ statusCode: number; json: any }>
  /** Uploads and waits until the queue has decided every transaction; returns the job as the API shows it. */
  run(transactions: unknown[]): Promise<any>
  balance(uid: string): number
  account(id: string): number
}

export async function bankWorld(
  t: Test,
  options: { path?: string; /** The database to run on instead of `path` (world-engines.ts). */ database?: WorldDatabase; wrapJobs?: (jobs: BankImportJobs) => BankImportJobs } = {},
): Promise<BankWorld> {
  const world: TestWorld<SqlDatabase> = options.database === undefined ? makeWorld(options.path) : makeWorld(options.database)
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => (logs.push(chunk.toString('utf8')), done()) }))
  const alerts: Array<{ kind: string; message: string }> = []
  const payouts = fakePayouts()
  const codes = createTransferCodes({ db: world.db, clock: world.clock })
  const created = createBankImportJobs({ db: world.db, ledger: world.ledger, transferCodes: codes, payouts, clock: world.clock, logger, currency: 'EUR', alert: (a) => alerts.push(a) })
  const jobs = options.wrapJobs ? options.wrapJobs(created) : created
  const queue = createImportQueue({ jobs, logger })
  const http = createHttpServer({
    logger,
    adminToken: API_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not in this test')
    },
    adminPlugins: [bankAdmin({ jobs, transferCodes: codes, wristbandKnown: (uid) => world.ledger.wristband(uid) !== undefined })],
    plugins: [{ plugin: bankImportApi, prefix: '', options: { jobs, queue, organizer: ORGANIZER, event: ORGANIZER, authenticate: (token: string) => (token === API_TOKEN ? 'admin' : undefined) } }],
  })
  await http.app.ready()
  t.teardown(async () => {
    await queue.stop()
    await http.close()
    const broken = world.ledger.checkInvariants()
    world.close()
    // After every test the ledger sums to zero and every balance is its postings.
    if (broken.length > 0) throw new Error(`ledger invariants broken: ${broken.join('; ')}`)
  })
  const upload = async (body: unknown) => {
    const res = await http.app.inject({ method: 'POST', url: JOBS_PATH, headers: { authorization: `Token ${API_TOKEN}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })
    return { statusCode: res.statusCode, json: res.json() }
  }
  return {
    world,
    codes,
    jobs,
    queue,
    http,
    payouts,
    alerts,
    logs,
    upload,
    async run(transactions) {
      const res = await upload({ event: ORGANIZER, transactions })
      if (res.statusCode !== 201) throw new Error(`upload answered ${res.statusCode}: ${JSON.stringify(res.json)}`)
      await queue.drained()
      const got = await http.app.inject({ method: 'GET', url: `${JOBS_PATH}${res.json.id}/`, headers: { authorization: `Token ${API_TOKEN}` } })
      return got.json()
    },
    balance: (uid) => world.ledger.balanceOf(uid) ?? NaN,
    account: (id) => world.ledger.accountBalance(id) ?? 0,
  }
}
