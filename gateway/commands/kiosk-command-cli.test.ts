// `wristpay-gateway kiosk-command KIOSK COMMAND` against the admin route over
// HTTP (in-process, port 0) with a stand-in for the kiosk's side: the operator
// comes from WRISTPAY_OPERATOR, only admins are let through, hostile arguments
// are usage errors that send nothing.
import t, { type Test } from 'tap'
import { createHttpServer } from '../http.js'
import { silentLogger } from '../ledger/testing/test-helpers.js'
import { operatorAccountsAuth } from '../four-eyes/operator-credentials.js'
import { kioskCommandsAdmin } from './admin-route.js'
import { KioskRemoteCommandUsageError, parseKioskRemoteCommandArgs, runKioskRemoteCommand } from './kiosk-command-cli.js'
import type { KioskCommandResult, SendKioskCommand } from './kiosk-commands.js'

const ADMIN_TOKEN = 'admin-token-0123456789'
const ROOT = { name: 'root', token: 'root-token-0123456789', roles: ['admin' as const] }
const OPS = { name: 'ops', token: 'ops-token-0123456789' }

async function start(t: Test, answer: (request: SendKioskCommand) => KioskCommandResult) {
  const sent: SendKioskCommand[] = []
  const server = createHttpServer({
    logger: silentLogger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    adminPlugins: [
      kioskCommandsAdmin({
        commands: { send: async (request) => (sent.push(request), answer(request)) },
        kioskExists: (id) => id === 'bar-1',
        operatorAuth: operatorAccountsAuth([ROOT, OPS]),
        adminOperatorAuth: operatorAccountsAuth([ROOT]),
      }),
    ],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  const as = async (operator: string, ...args: string[]) => {
    let stdout = ''
    let stderr = ''
    const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, WRISTPAY_OPERATOR: operator }
    const code = await runKioskRemoteCommand([...args, '--url', `http://127.0.0.1:${port}`], env, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
    return { code, stdout, stderr }
  }
  return { as, sent }
}

const done = (request: SendKioskCommand): KioskCommandResult => ({ v: 1, id: '0190a3f1-0000-7000-8000-000000000001', kiosk: request.kioskId, command: request.command, status: 'done', at: 1, locked: request.command === 'lock', message: 'locked' })

t.test('an admin operator locks a kiosk with a reason; the answer is printed', async (t) => {
  const h = await start(t, done)
  const run = await h.as(`root:${ROOT.token}`, 'bar-1', 'lock', '--reason', 'cash count')
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, 'bar-1: lock done: locked (locked)\n')
  t.match(h.sent, [{ kioskId: 'bar-1', command: 'lock', by: 'root', reason: 'cash count' }], 'sent in the operator\'s name, from the credentials')
})

t.test('a read-only operator, wrong credentials and unknown kiosks are refused; nothing is sent', async (t) => {
  const h = await start(t, done)
  const readOnly = await h.as(`ops:${OPS.token}`, 'bar-1', 'lock')
  t.equal(readOnly.code, 1)
  t.match(readOnly.stderr, /403 operator_not_admin/)
  const wrong = await h.as('root:wrong-token-000000', 'bar-1', 'unlock')
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /401 operator_credentials_required/)
  const unknown = await h.as(`root:${ROOT.token}`, 'ghost-1', 'unlock')
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /404 unknown_kiosk/)
  t.same(h.sent, [])
})

t.test('no answer in time is 504; a kiosk that refuses exits 1', async (t) => {
  const timeout = await start(t, () => ({ status: 'timeout' }))
  const late = await timeout.as(`root:${ROOT.token}`, 'bar-1', 'report_state')
  t.equal(late.code, 1)
  t.match(late.stderr, /504 kiosk_command_timeout/)
  const refusing = await start(t, (r) => ({ ...(done(r) as object), status: 'expired', message: 'expired' }) as KioskCommandResult)
  const expired = await refusing.as(`root:${ROOT.token}`, 'bar-1', 'unlock')
  t.equal(expired.code, 1)
  t.match(expired.stdout, /unlock expired/)
})

t.test('arguments: a known command, a kiosk, --reason only with lock', async (t) => {
  t.match(parseKioskRemoteCommandArgs(['bar-1', 'reload_config']), { kioskId: 'bar-1', command: 'reload_config' })
  for (const args of [[], ['bar-1'], ['bar-1', 'explode'], ['bar-1', 'unlock', '--reason', 'x'], ['bar-1', 'lock', 'extra'], ['bar-1', 'lock', '--token', 'x']])
    t.throws(() => parseKioskRemoteCommandArgs(args), KioskRemoteCommandUsageError, JSON.stringify(args))
  const h = await start(t, done)
  const usage = await h.as(`root:${ROOT.token}`, 'bar-1', 'explode')
  t.equal(usage.code, 2)
  t.match(usage.stderr, /Usage:/)
  t.same(h.sent, [])
})
