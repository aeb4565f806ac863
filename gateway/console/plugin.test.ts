// The operator console's routes through the gateway's HTTP server (app.inject):
// its files, its config, and its API with the operator's own credentials,
// read for every operator account and actions for admin accounts only.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import type { KioskCommandResult, SendKioskCommand } from '../commands/index.js'
import { createHttpServer } from '../http.js'
import { makeWorld, UID } from '../ledger/testing/test-helpers.js'
import { operatorConsole, type OperatorConsoleDeps } from './plugin.js'
import { defaultConsoleWebDir, loadConsoleFiles } from './static-files.js'

const OPERATORS = [
  { name: 'watcher', token: 'watcher-token-0123' },
  { name: 'boss', token: 'boss-token-0123456', roles: ['admin'] as const },
]
const READ_ONLY = { 'wristpay-operator': 'watcher:watcher-token-0123' }
const ADMIN = { 'wristpay-operator': 'boss:boss-token-0123456' }

const DEBTS = [
  { txId: '01936f0e-7c00-7000-8000-000000000001', uid: UID.alice, kiosk: 'bar-1', shortfall: 250, bookedAt: 1, balanceNow: -250, open: true },
  { txId: '01936f0e-7c00-7000-8000-000000000002', uid: UID.bob, kiosk: 'bar-1', shortfall: 100, bookedAt: 2, balanceNow: 0, open: false },
]

interface Harness {
  inject: (method: 'GET' | 'PUT' | 'POST', url: string, headers?: Record<string, string>, body?: unknown) => Promise<{ status: number; body: any; headers: Record<string, unknown> }>
  world: ReturnType<typeof makeWorld>
  published: Array<readonly string[] | 'all'>
  commands: SendKioskCommand[]
  logs: Array<Record<string, unknown>>
}

async function start(t: Test, extra: Partial<OperatorConsoleDeps> = {}): Promise<Harness> {
  const world = makeWorld()
  const published: Harness['published'] = []
  const commands: SendKioskCommand[] = []
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
  const server = createHttpServer({
    logger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    plugins: [
      {
        prefix: '/console',
        throttleCredentials: 'operator console',
        plugin: operatorConsole({
          operators: OPERATORS,
          ledger: {
            debts: () => DEBTS,
            shiftReports: () => world.ledger.shiftReports(),
            wristband: (uid) => world.ledger.wristband(uid),
            registry: world.ledger.registry,
          },
          publishKioskConfigs: async (ids) => void published.push(ids ?? 'all'),
          mqttWebSocket: () => ({ port: 18083 }),
          sendKioskCommand: async (request): Promise<KioskCommandResult> => {
            commands.push(request)
            return { v: 1, id: '01936f0e-7c00-7000-8000-0000000000aa', kiosk: request.kioskId, command: request.command, status: 'done', at: 5, locked: request.command === 'lock' }
          },
          ...extra,
        }),
      },
    ],
  })
  t.teardown(async () => {
    await server.close()
    world.close()
  })
  const inject: Harness['inject'] = async (method, url, headers = {}, body) => {
    const response = await server.app.inject({ method, url, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) })
    let parsed: unknown = response.body
    try {
      parsed = JSON.parse(response.body)
    } catch {}
    return { status: response.statusCode, body: parsed, headers: response.headers }
  }
  return { inject, world, published, commands, logs }
}

t.test('the page, its script and style and the two browser bundles are served under /console/', async (t) => {
  const h = await start(t)
  const page = await h.inject('GET', '/console/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /vendor\/mqtt\.min\.js/)
  t.match(page.headers['content-security-policy'], /connect-src 'self' ws: wss:/)
  for (const [path, type] of [
    ['/console/console.js', /javascript/],
    ['/console/console.css', /text\/css/],
    ['/console/vendor/mqtt.min.js', /javascript/],
    ['/console/vendor/uPlot.iife.min.js', /javascript/],
    ['/console/vendor/uPlot.min.css', /text\/css/],
  ] as const) {
    const file = await h.inject('GET', path)
    t.equal(file.status, 200, path)
    t.match(file.headers['content-type'], type, path)
  }
  t.equal((await h.inject('GET', '/console')).status, 301, 'without the slash: redirected')
  t.equal((await h.inject('GET', '/console/../package.json')).status, 404)
  t.equal((await h.inject('GET', '/console/vendor/other.js')).status, 404)
})

t.test('config.json tells the page where the MQTT WebSocket listener is, or that it is off', async (t) => {
  const on = await start(t)
  t.same((await on.inject('GET', '/console/config.json')).body, { mqtt: { port: 18083, path: '/mqtt', tls: false } })
  const off = await start(t, { mqttWebSocket: () => null })
  t.same((await off.inject('GET', '/console/config.json')).body, { mqtt: null })
})

t.test('the API needs an operator account: none, a wrong token or an unknown name is 401', async (t) => {
  const h = await start(t)
  for (const headers of [{}, { 'wristpay-operator': 'watcher:wrong' }, { 'wristpay-operator': 'nobody:watcher-token-0123' }, { 'wristpay-operator': 'no-colon' }] as Array<Record<string, string>>) {
    const answer = await h.inject('GET', '/console/api/debts', headers)
    t.equal(answer.status, 401)
    t.equal(answer.body.type, 'operator_credentials_required')
  }
  t.equal((await h.inject('PUT', `/console/api/wristbands/${UID.alice}/blocked`, {}, { blocked: true })).status, 401)
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, false, 'nothing changed')
})

t.test('any operator reads who they are, the open debts and the shift reports', async (t) => {
  const h = await start(t)
  t.same((await h.inject('GET', '/console/api/whoami', READ_ONLY)).body, { name: 'watcher', admin: false })
  t.same((await h.inject('GET', '/console/api/whoami', ADMIN)).body, { name: 'boss', admin: true })
  const debts = await h.inject('GET', '/console/api/debts', READ_ONLY)
  t.equal(debts.status, 200)
  t.same(debts.body, [DEBTS[0]], 'only the open ones')
  const shifts = await h.inject('GET', '/console/api/shifts', READ_ONLY)
  t.equal(shifts.status, 200)
  t.same(shifts.body, h.world.ledger.shiftReports())
})

t.test('a read-only operator may not act: 403 operator_not_admin and nothing changes', async (t) => {
  const h = await start(t)
  const attempts = [
    await h.inject('PUT', `/console/api/wristbands/${UID.alice}/blocked`, READ_ONLY, { blocked: true }),
    await h.inject('POST', '/console/api/event/push', READ_ONLY),
    await h.inject('POST', '/console/api/kiosks/bar-1/lock', READ_ONLY, {}),
  ]
  for (const answer of attempts) {
    t.equal(answer.status, 403)
    t.equal(answer.body.type, 'operator_not_admin')
  }
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, false)
  t.same(h.published, [])
  t.same(h.commands, [])
})

t.test('an admin blocks and unblocks a wristband: the ledger and every kiosk config change, logged with the name', async (t) => {
  const h = await start(t)
  const before = h.world.ledger.registry.kioskConfig('bar-1')
  const blocked = await h.inject('PUT', `/console/api/wristbands/${UID.alice}/blocked`, ADMIN, { blocked: true })
  t.equal(blocked.status, 200)
  t.same(blocked.body, { uid: UID.alice, blocked: true, kiosksUpdated: 3 })
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, true)
  t.ok(h.world.ledger.registry.kioskConfig('bar-1').blocklist!.uids.includes(UID.alice), 'in the blocklist the kiosks get')
  t.ok(h.world.ledger.registry.kioskConfig('bar-1').version > before.version)
  t.same(h.published, [['bar-1', 'cash-1', 'food-1']], 'the changed configs went out')
  t.ok(h.logs.some((line) => line.operator === 'boss' && line.uid === UID.alice && line.blocked === true), 'logged with the operator')
  const unblocked = await h.inject('PUT', `/console/api/wristbands/${UID.alice}/blocked`, ADMIN, { blocked: false })
  t.equal(unblocked.status, 200)
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, false)
  const unknown = await h.inject('PUT', `/console/api/wristbands/${UID.stranger}/blocked`, ADMIN, { blocked: true })
  t.equal(unknown.status, 404)
  t.equal(unknown.body.type, 'unknown_tag')
})

t.test('an admin pushes the event set-up again: every kiosk config is republished', async (t) => {
  const h = await start(t)
  const answer = await h.inject('POST', '/console/api/event/push', ADMIN)
  t.equal(answer.status, 200)
  t.same(answer.body, { kiosks: 3 })
  t.same(h.published, ['all'])
  t.ok(h.logs.some((line) => line.operator === 'boss' && line.kiosks === 3))
})

t.test("an admin locks and unlocks a kiosk through the gateway's command sender, in their own name", async (t) => {
  const h = await start(t)
  const locked = await h.inject('POST', '/console/api/kiosks/bar-1/lock', ADMIN, { reason: 'cash count' })
  t.equal(locked.status, 200)
  t.match(locked.body, { kiosk: 'bar-1', status: 'done', locked: true })
  t.match(h.commands, [{ kioskId: 'bar-1', command: 'lock', by: 'boss', reason: 'cash count' }])
  t.equal((await h.inject('POST', '/console/api/kiosks/bar-1/unlock', ADMIN, {})).status, 200)
  t.match(h.commands[1], { kioskId: 'bar-1', command: 'unlock', by: 'boss' })
  t.notOk('reason' in h.commands[1]!, 'an unlock carries no reason')
  const unknown = await h.inject('POST', '/console/api/kiosks/nowhere-9/lock', ADMIN, {})
  t.equal(unknown.status, 404)
  t.equal(unknown.body.type, 'unknown_kiosk')
  t.equal((await h.inject('POST', '/console/api/kiosks/bar-1/reboot', ADMIN, {})).status, 400, 'only lock and unlock')
  t.equal(h.commands.length, 2)
})

t.test('lock and unlock answer 503 commands_unavailable without a sender, 504 when the kiosk does not answer', async (t) => {
  const without = await start(t, { sendKioskCommand: undefined })
  const unavailable = await without.inject('POST', '/console/api/kiosks/bar-1/lock', ADMIN, {})
  t.equal(unavailable.status, 503)
  t.equal(unavailable.body.type, 'commands_unavailable')
  const silent = await start(t, { sendKioskCommand: async () => ({ status: 'timeout' }) })
  const timeout = await silent.inject('POST', '/console/api/kiosks/bar-1/unlock', ADMIN, {})
  t.equal(timeout.status, 504)
  t.equal(timeout.body.type, 'kiosk_command_timeout')
})

t.test("the build's copy of the console (package.json scripts.build) holds every file the console serves", async (t) => {
  const repository = resolve(defaultConsoleWebDir(), '../../..')
  const build = JSON.parse(readFileSync(join(repository, 'package.json'), 'utf8')).scripts.build as string
  const steps = build.split('&&').map((step) => step.trim()).filter((step) => step.includes('gateway/console/web'))
  t.ok(steps.length > 0, 'the build copies gateway/console/web')
  const out = mkdtempSync(join(tmpdir(), 'wristpay-console-build-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  // The build's own steps, writing into a temporary dist/ instead of the repository's.
  execFileSync('sh', ['-c', steps.map((step) => step.replaceAll('dist/', `${out}/dist/`)).join(' && ')], { cwd: repository })
  const copied = loadConsoleFiles(join(out, 'dist/gateway/console/web'))
  t.same([...copied.keys()].sort(), [...loadConsoleFiles().keys()].sort(), 'every file found in the copy')
})
