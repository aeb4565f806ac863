import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { UID, fixedClock, makeWorld, silentLogger, verified } from '../ledger/testing/test-helpers.js'
import { backupFileName, listBackups } from './backup.js'
import { createBackupSchedule, createBackups, ledgerAuditCheck } from './backups.js'
import { fakeIntervalTimers } from '../testing/fake-interval-timers.js'

t.test('each backup is pruned to `keep`, logged, and a failure is alerted and kept from the folder', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  const clock = fixedClock(Date.UTC(2026, 7, 5, 12))
  const alerts: string[] = []
  const dir = join(root, 'backups')
  const backups = createBackups({ db: w.db, dir, keep: 2, clock, logger: silentLogger, alert: (kind, message) => alerts.push(`${kind}: ${message}`) })
  const names: string[] = []
  for (let i = 0; i < 3; i++) {
    names.push(backupFileName(clock.now()))
    await backups.run('requested')
    clock.advance(60_000)
  }
  t.same(readdirSync(dir), names.slice(1))
  t.same(alerts, [])

  const broken = join(root, 'not-a-folder')
  writeFileSync(broken, '')
  const failing = createBackups({ db: w.db, dir: join(broken, 'backups'), keep: 2, clock, logger: silentLogger, alert: (kind, message) => alerts.push(`${kind}: ${message}`) })
  await t.rejects(failing.run('scheduled'), { name: 'BackupError' })
  t.match(alerts, [/^backup_failed: backup of the gateway's database failed: backup to .* failed/])
})

t.test('two requests at once run one after the other, each with its own file', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  const clock = fixedClock(Date.UTC(2026, 7, 5, 12))
  const dir = join(root, 'backups')
  mkdirSync(dir)
  const backups = createBackups({ db: w.db, dir, keep: 5, clock, logger: silentLogger, alert: () => {} })
  const first = backups.run('requested')
  clock.advance(1)
  const second = backups.run('requested')
  const [a, b] = await Promise.all([first, second])
  t.not(a.file, b.file)
  t.equal(readdirSync(dir).length, 2)
  await backups.idle()
})

t.test('the schedule runs a backup each interval between start and stop, never two at once', async (t) => {
  const { timers, intervals, fire } = fakeIntervalTimers()
  let runs = 0
  let finish: (() => void) | undefined
  const schedule = createBackupSchedule(
    {
      run: () => {
        runs++
        return new Promise((resolve) => (finish = () => resolve({ file: 'f', bytes: 1, pages: 1 })))
      },
    },
    15 * 60_000,
    timers,
  )
  t.equal(intervals.size, 0, 'nothing before start')
  schedule.start()
  schedule.start()
  t.same([...intervals.values()].map((i) => i.ms), [15 * 60_000], 'one timer, of the interval')
  fire()
  fire()
  t.equal(runs, 1, 'a backup still running is not stacked')
  finish!()
  await new Promise((resolve) => setImmediate(resolve))
  fire()
  t.equal(runs, 2)
  finish!()
  schedule.stop()
  t.equal(intervals.size, 0, 'stop clears the timer')
})

t.test('a copy of books that do not add up fails the ledger audit: not kept, alerted with the finding', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000))])
  const dir = join(root, 'backups')
  const alerts: string[] = []
  const backups = createBackups({ db: w.db, dir, keep: 2, clock: fixedClock(), logger: silentLogger, alert: (_kind, message) => alerts.push(message), check: ledgerAuditCheck })
  await backups.run('requested')
  t.equal(listBackups(dir).length, 1, 'sound books are backed up')
  // A damaged disk or a stray hand: one balance no longer equals its postings.
  w.db.prepare("UPDATE accounts SET balance = balance + 1 WHERE kind = 'customer'").run()
  await t.rejects(backups.run('requested'), { name: 'BackupError', findings: [/^balance_differs_from_postings: /] })
  t.equal(listBackups(dir).length, 1, 'the unsound copy is not kept')
  t.match(alerts, [/failed its check: balance_differs_from_postings/])
})
