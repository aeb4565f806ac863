// The operator console's routes through the gateway's HTTP server (app.inject):
// its files, its config, and its API with the operator's own credentials,
// read for every operator account and actions for admin accounts only.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import type { KioskCommandResult, SendKioskCommand } from '../commands/index.js'
import { createHttpServer } from '../http.js'
import { kioskEnrollmentApi, type KioskEnrollmentDeps } from '../kiosk-enrollment.js'
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
  /** Lines the server logged, as written (to check that no code reaches them). */
  logText: string[]
}

async function start(t: Test, extra: Partial<OperatorConsoleDeps> = {}): Promise<Harness> {
  const world = makeWorld()
  const published: Harness['published'] = []
  const commands: SendKioskCommand[] = []
  const logs: Array<Record<string, unknown>> = []
  const logText: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void (logText.push(line), logs.push(JSON.parse(line))) })
  // Enrollment over the test world's registry: the console makes kiosks and codes, POST /enroll spends them.
  const enrollment: KioskEnrollmentDeps = {
    registry: world.ledger.registry,
    clock: world.clock,
    logger,
    codeTtlMs: 3_600_000,
    mqttListener: () => ({ host: '127.0.0.1', port: 1883 }),
    publishKioskConfigs: async (ids) => void published.push(ids),
    endKioskSessions: async () => undefined,
  }
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
          enrollment,
          ...extra,
        }),
      },
      { prefix: '', plugin: kioskEnrollmentApi(enrollment) },
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
  return { inject, world, published, commands, logs, logText }
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
    await h.inject('POST', '/console/api/kiosks', READ_ONLY, { id: 'bar-9', booth: 'bar', saleAllowed: true }),
    await h.inject('POST', '/console/api/kiosks/bar-1/registration-code', READ_ONLY, {}),
  ]
  for (const answer of attempts) {
    t.equal(answer.status, 403)
    t.equal(answer.body.type, 'operator_not_admin')
  }
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, false)
  t.same(h.published, [])
  t.same(h.commands, [])
  t.equal(h.world.ledger.registry.kiosk('bar-9'), undefined, 'no kiosk made')
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

const CODE = /^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/
const publicKey = () => generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!

t.test('enrollment from the console needs an operator account: 401 without one', async (t) => {
  const h = await start(t)
  t.equal((await h.inject('POST', '/console/api/kiosks', {}, { id: 'bar-9', booth: 'bar', saleAllowed: true })).status, 401)
  t.equal((await h.inject('POST', '/console/api/kiosks/bar-1/registration-code', { 'wristpay-operator': 'boss:wrong' }, {})).status, 401)
  t.equal(h.world.ledger.registry.kiosk('bar-9'), undefined, 'no kiosk made')
})

t.test('an admin makes a kiosk from the console: its code, command line and QR code, the code works once with POST /enroll, logged with the name and never the code', async (t) => {
  const h = await start(t)
  const made = await h.inject('POST', '/console/api/kiosks', ADMIN, { id: 'bar-9', booth: 'bar', saleAllowed: true })
  t.equal(made.status, 201)
  t.match(made.body, { kioskId: 'bar-9', booth: 'bar', code: CODE, expiresAt: h.world.clock.now() + 3_600_000, enrollCommand: /^wristpay-kiosk enroll --gateway http:\/\/\S+ --code [A-Z0-9-]+$/ })
  t.ok(made.body.enrollCommand.endsWith(made.body.code), 'the command line carries the code')
  t.match(made.body.qr, { svg: /^<svg/, dataUrl: /^data:image\/png;base64,/ })
  t.same(h.published, [['bar-9']], "the new kiosk's config is retained before it logs in")
  t.match(h.logs.find((l) => l.msg === 'console: kiosk made by an operator, registration code issued'), { operator: 'boss', kioskId: 'bar-9' })
  t.notOk(h.logText.some((line) => line.includes(made.body.code)), 'the code is in no log line')

  const enroll = { code: made.body.code, publicKey: publicKey() }
  const enrolled = await h.inject('POST', '/enroll', {}, enroll)
  t.equal(enrolled.status, 200)
  t.match(enrolled.body, { kioskId: 'bar-9', booth: 'bar', mqtt: { username: 'bar-9' } })
  t.match(await h.inject('POST', '/enroll', {}, { ...enroll, publicKey: publicKey() }), { status: 410, body: { type: 'registration_code_used' } }, 'the code works once')

  t.match(await h.inject('POST', '/console/api/kiosks', ADMIN, { id: 'bar-9', booth: 'bar', saleAllowed: true }), { status: 409, body: { type: 'kiosk_exists' } })
  t.match(await h.inject('POST', '/console/api/kiosks', ADMIN, { id: 'bar-8', booth: 'nowhere', saleAllowed: true }), { status: 400, body: { type: 'unknown_booth' } })
})

t.test('an admin asks the console for a new code for a kiosk that exists (a replaced Pi); an unknown kiosk is 404', async (t) => {
  const h = await start(t)
  const issued = await h.inject('POST', '/console/api/kiosks/bar-1/registration-code', ADMIN, {})
  t.equal(issued.status, 200)
  t.match(issued.body, { kioskId: 'bar-1', booth: 'bar', code: CODE, qr: { svg: /<svg/, dataUrl: /^data:image\/png;base64,/ } })
  t.match(h.logs.find((l) => l.msg === 'console: registration code issued by an operator'), { operator: 'boss', kioskId: 'bar-1' })
  t.notOk(h.logText.some((line) => line.includes(issued.body.code)), 'the code is in no log line')
  const enrolled = await h.inject('POST', '/enroll', {}, { code: issued.body.code, publicKey: publicKey() })
  t.match(enrolled, { status: 200, body: { kioskId: 'bar-1' } })
  t.match(await h.inject('POST', '/console/api/kiosks/nope-1/registration-code', ADMIN, {}), { status: 404, body: { type: 'unknown_kiosk' } })
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
