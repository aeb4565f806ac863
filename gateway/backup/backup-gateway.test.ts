// Backups of a running gateway (in-process, on a SQLite file, ports 0): the
// admin route behind the admin token, the schedule on a fake timer, a failed
// backup as an operator alert, and `wristpay-gateway backup` against it over
// HTTP and offline on a stopped gateway's file.
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { topics, type AlertEvent } from '../../device-protocol/index.js'
import { createGateway, DB_FILE_NAME } from '../app.js'
import { loadConfig, type GatewayConfig } from '../config.js'
import { testSetup } from '../ledger/testing/test-helpers.js'
import { listBackups } from './backup.js'
import { runBackupCommand } from './backup-command.js'
import type { IntervalTimers } from './backups.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'

const ADMIN_TOKEN = 'admin-token-0123456789'
const OPERATOR_TOKEN = 'ops-token-0123456789'

async function startGateway(t: Test, root: string, backup: GatewayConfig['backup'] | undefined, timers?: IntervalTimers) {
  const config = loopbackGatewayConfig(root, testSetup(), {
    adminToken: ADMIN_TOKEN,
    operators: [{ name: 'ops', token: OPERATOR_TOKEN }],
    ...(backup ? { backup } : {}),
  })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }), ...(timers ? { backupTimers: timers } : {}) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const url = `http://127.0.0.1:${gateway.httpAddress!.port}`
  return { gateway, url, config }
}

async function post(url: string, token?: string) {
  const response = await fetch(`${url}/admin/backups`, { method: 'POST', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = ''
  let stderr = ''
  const code = await runBackupCommand(args, env, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), now: () => Date.UTC(2026, 7, 5, 3) })
  return { code, stdout, stderr }
}

t.test('POST /admin/backups needs the admin token and answers the checked backup', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'backups')
  const { url } = await startGateway(t, root, { dir, keep: 3 })
  t.equal((await post(url)).status, 401, 'no token')
  t.equal((await post(url, 'wrong-token-0123456789')).status, 401, 'a wrong token')
  t.same(readdirSync(root).includes('backups'), false, 'nothing written for a refused request')
  const ok = await post(url, ADMIN_TOKEN)
  t.equal(ok.status, 200)
  t.match(ok.body, { file: new RegExp(`^${dir}/gateway-\\d{8}T\\d{9}Z\\.sqlite$`), bytes: Number, pages: Number })
  t.same(listBackups(dir), [String(ok.body.file).slice(dir.length + 1)])
})

t.test('without backup.dir the route says backups are not configured', async (t) => {
  const { url } = await startGateway(t, t.testdir(), undefined)
  const refused = await post(url, ADMIN_TOKEN)
  t.equal(refused.status, 409)
  t.equal(refused.body.type, 'backups_not_configured')
})

t.test('the schedule backs up on its timer while the gateway runs, and stops with it', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'backups')
  const intervals = new Map<number, { fn: () => void; ms: number }>()
  let next = 1
  const timers: IntervalTimers = { setInterval: (fn, ms) => (intervals.set(next, { fn, ms }), next++), clearInterval: (h) => void intervals.delete(h as number) }
  const { gateway } = await startGateway(t, root, { dir, intervalMinutes: 30, keep: 2 }, timers)
  t.same([...intervals.values()].map((i) => i.ms), [30 * 60_000])
  for (const { fn } of intervals.values()) fn()
  await gateway.backups!.idle()
  t.equal(listBackups(dir).length, 1, 'the timer took a backup')
  await gateway.stop()
  t.equal(intervals.size, 0, 'stopping the gateway stops the schedule')
})

t.test('a failing destination answers backup_failed, alerts operators and leaves nothing', async (t) => {
  const root = t.testdir()
  const blocker = join(root, 'not-a-folder')
  writeFileSync(blocker, '')
  const { url, gateway } = await startGateway(t, root, { dir: join(blocker, 'backups') })
  const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, { username: 'operator:ops', password: OPERATOR_TOKEN, reconnectPeriod: 0 })
  t.teardown(() => operator.endAsync(true))
  const alerts: AlertEvent[] = []
  operator.on('message', (_topic, payload) => alerts.push(JSON.parse(payload.toString()) as AlertEvent))
  await operator.subscribeAsync(topics.event('alert'), { qos: 1 })
  const failed = await post(url, ADMIN_TOKEN)
  t.equal(failed.status, 500)
  t.equal(failed.body.type, 'backup_failed')
  for (let i = 0; i < 200 && alerts.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.match(alerts, [{ kind: 'backup_failed', message: /^backup of the gateway's database failed: backup to .*not-a-folder\/backups failed/ }])
  t.same(readdirSync(root).sort(), ['data', 'event.json', 'not-a-folder'])
})

t.test('wristpay-gateway backup asks the running gateway, or copies a stopped one\'s file with --offline', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'backups')
  const { url, gateway, config } = await startGateway(t, root, { dir })
  const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }
  const online = await cli(['--url', url], env)
  t.equal(online.code, 0, online.stderr)
  t.match(online.stdout, /^backup written and checked: .*gateway-\d{8}T\d{9}Z\.sqlite \(\d+ bytes, \d+ pages\)\n$/)
  t.equal(listBackups(dir).length, 1)

  const wrongToken = await cli(['--url', url], { WRISTPAY_GATEWAY_ADMIN_TOKEN: 'wrong-token-0123456789' })
  t.equal(wrongToken.code, 1)
  t.match(wrongToken.stderr, /refused \(401/)
  t.equal((await cli(['--db', 'x'])).code, 2, '--db without --offline is a usage error')
  t.equal((await cli(['--offline', '--db', 'x'])).code, 2, '--offline without --to')
  t.equal((await cli(['--offline', '--db', 'x', '--to', 'y', '--url', url])).code, 2, '--offline with --url')

  await gateway.stop()
  const offlineDir = join(root, 'offline')
  const offline = await cli(['--offline', '--db', join(config.dataDir, DB_FILE_NAME), '--to', offlineDir])
  t.equal(offline.code, 0, offline.stderr)
  t.same(listBackups(offlineDir), ['gateway-20260805T030000000Z.sqlite'])
  const missing = await cli(['--offline', '--db', join(root, 'nothing.sqlite'), '--to', offlineDir])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /cannot open/)
  t.same(readdirSync(root).includes('nothing.sqlite'), false, 'a wrong path is not created')
})

t.test('a relative backup.dir in the config file is taken relative to that file', async (t) => {
  const root = t.testdir()
  const file = join(root, 'gateway.json')
  writeFileSync(file, JSON.stringify({ backup: { dir: 'backups', intervalMinutes: 60 } }))
  t.same(loadConfig({ file, env: {} }).backup, { dir: join(root, 'backups'), intervalMinutes: 60 })
})
