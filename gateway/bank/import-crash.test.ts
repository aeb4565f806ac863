// The gateway process is killed with SIGKILL in the middle of a bank import
// job and started again on the same data: the job goes on by itself, and
// every transfer is booked exactly once (none lost, none twice).
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t from 'tap'
import { systemClock } from '../../device-protocol/index.js'
import { DB_FILE_NAME } from '../app.js'
import { createLedger, openLedgerDatabase } from '../ledger/index.js'
import { exited, freePort, startGatewayProcess } from '../testing/gateway-process.js'

const TOKEN = 'crash-test-admin-token-0123456789'
const GUESTS = ['04000000000011', '04000000000012', '04000000000013', '04000000000014', '04000000000015']
const TRANSFERS = 1_000


const startGateway = (args: string[]) => startGatewayProcess(args, { WRISTPAY_GATEWAY_ADMIN_TOKEN: TOKEN })


t.test('SIGKILL in the middle of a bank import job: it resumes, each transfer booked once', { timeout: 170_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bank-crash-'))
  let gateway: ChildProcess | undefined
  t.teardown(async () => {
    if (gateway) {
      gateway.kill('SIGKILL')
      await exited(gateway)
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const eventFile = join(dir, 'event.json')
  writeFileSync(
    eventFile,
    JSON.stringify({ event: { name: 'Bank Crash', currency: 'EUR' }, booths: [{ id: 'bar', name: 'Bar' }], products: [], kiosks: [], wristbands: GUESTS.map((uid, i) => ({ uid, pin: `BANKCRSH${'ABCDEFGH'[i]}` })) }),
  )
  const httpPort = await freePort()
  const args = ['--event', eventFile, '--data-dir', join(dir, 'gateway'), '--mqtt-port', String(await freePort()), '--http-port', String(httpPort)]
  const base = `http://127.0.0.1:${httpPort}`
  const jobs = `${base}/api/v1/organizers/bank-crash/bankimportjobs/`
  const auth = { authorization: `Token ${TOKEN}` }

  gateway = await startGateway(args)
  const references: string[] = []
  for (const uid of GUESTS) {
    const res = await fetch(`${base}/admin/wristbands/${uid}/transfer-reference`, { headers: { authorization: `Bearer ${TOKEN}` } })
    references.push(((await res.json()) as { display: string }).display)
  }
  // Amounts differ per transfer so that the checksums differ; every tenth names nobody.
  const transactions = Array.from({ length: TRANSFERS }, (_, i) => ({
    payer: `Guest ${i}`,
    reference: i % 10 === 9 ? `no reference ${i}` : `Top-up ${references[i % GUESTS.length]}`,
    amount: `${1 + (i % 50)}.${String(i % 100).padStart(2, '0')}`,
    date: '2026-06-01',
  }))
  const expected = new Map<string, number>()
  transactions.forEach((tx, i) => {
    if (i % 10 === 9) return
    const uid = GUESTS[i % GUESTS.length]!
    const [whole, cents] = tx.amount.split('.')
    expected.set(uid, (expected.get(uid) ?? 0) + Number(whole) * 100 + Number(cents))
  })
  const created = await fetch(jobs, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ event: 'bank-crash', transactions }) })
  t.equal(created.status, 201)
  const { id } = (await created.json()) as { id: number }

  // Kill it once some transfers are decided and many are not.
  let decidedAtKill = 0
  for (;;) {
    const job = (await (await fetch(`${jobs}${id}/`, { headers: auth })).json()) as { state: string; transactions: Array<{ state: string }> }
    decidedAtKill = job.transactions.filter((x) => x.state !== 'imported').length
    if (decidedAtKill >= 20 || job.state === 'completed') break
    await new Promise((done) => setTimeout(done, 5))
  }
  gateway.kill('SIGKILL')
  await exited(gateway)
  t.ok(decidedAtKill < TRANSFERS, `killed in the middle (${decidedAtKill} of ${TRANSFERS} decided)`)

  gateway = await startGateway(args)
  let job: { state: string; transactions: Array<{ state: string }> }
  for (;;) {
    job = (await (await fetch(`${jobs}${id}/`, { headers: auth })).json()) as typeof job
    if (job.state === 'completed') break
    await new Promise((done) => setTimeout(done, 500))
  }
  const counts = new Map<string, number>()
  for (const x of job.transactions) counts.set(x.state, (counts.get(x.state) ?? 0) + 1)
  t.same(Object.fromEntries(counts), { valid: TRANSFERS * 0.9, nomatch: TRANSFERS * 0.1 })
  gateway.kill('SIGKILL')
  await exited(gateway)
  gateway = undefined

  const db = openLedgerDatabase(join(dir, 'gateway', DB_FILE_NAME))
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: systemClock, logger: pino({ level: 'silent' }) })
  for (const uid of GUESTS) t.equal(ledger.balanceOf(uid), expected.get(uid), `${uid}: every transfer once`)
  const booked = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM external_bookings WHERE ref LIKE 'bank:%'`).get()!.n
  t.equal(booked, TRANSFERS * 0.9)
  t.same(ledger.checkInvariants(), [])
})
