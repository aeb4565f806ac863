// wristpay's backups copy the SQLite file: with the ledger in PostgreSQL
// (config store) each way to one refuses and tells the operator what to run
// instead (pg_dump and pg_basebackup on the store's URL, passfile kept and no
// password, then the audit of the restored copy, README's section): the
// `backup` command without asking the gateway, `backup --offline` handed a
// store's URL, POST /admin/backups of a gateway on a store, and the
// gateway's start with `backup` in its config.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { apiErrorHandler } from '../../portal-api/http-errors.js'
import { createGateway } from '../app.js'
import { DEFAULT_CONFIG } from '../config.js'
import { httpErrorAnswer } from '../http.js'
import { backupsAdmin } from './admin-route.js'
import { runBackupCommand } from './backup-command.js'
import { storeBackupAdvice, storeUrlForTools } from './store-backups.js'

const STORE = 'postgres://wristpay@db.example:5432/wristpay?passfile=%2Fetc%2Fwristpay%2Fpgpass'

/** What every refusal must tell the operator: the two tools on the store's URL, the audit of the copy, README's section. */
function checkAdvice(t: Test, text: string, store = STORE) {
  const url = storeUrlForTools(store)
  t.match(text, 'backup copies the SQLite file')
  t.match(text, `pg_dump --format=custom --file=wristpay-$(date -u +%Y%m%dT%H%M%SZ).dump '${url}'`)
  t.match(text, `pg_basebackup --dbname='${url}' --pgdata=DIR --wal-method=stream --checkpoint=fast`)
  t.match(text, 'wristpay-gateway audit --store NEW_URL must exit 0')
  t.match(text, 'README "Backups and restore"')
}

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  let stdout = ''
  let stderr = ''
  const asked: string[] = []
  const code = await runBackupCommand(args, env, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    transport: (baseUrl) => async (request) => {
      asked.push(`${request.method} ${baseUrl}${request.path}`)
      return { status: 200, json: { file: 'x', bytes: 0, pages: 0 } }
    },
  })
  return { code, stdout, stderr, asked }
}

t.test('the tools get the URL as the gateway has it: passfile kept, a password never', async (t) => {
  t.equal(storeUrlForTools(STORE), STORE)
  t.equal(storeUrlForTools('postgres://wristpay:s3cret@db:5432/w?password=other&sslmode=require'), 'postgres://wristpay@db:5432/w?sslmode=require')
  t.notMatch(storeBackupAdvice('postgres://wristpay:s3cret@db:5432/w'), 's3cret')
})

t.test('backup with a store in the environment or the config file: exit 2 and what to run instead, the gateway not asked', async (t) => {
  const fromEnv = await cli([], { WRISTPAY_GATEWAY_STORE: STORE, WRISTPAY_GATEWAY_ADMIN_TOKEN: 'admin-token-0123456789' })
  t.equal(fromEnv.code, 2)
  t.equal(fromEnv.stdout, '')
  t.match(fromEnv.stderr, /^wristpay-gateway: backup copies the SQLite file, and this gateway's ledger is in PostgreSQL \(store postgres:\/\/wristpay@db\.example:5432\/wristpay\?passfile=/)
  checkAdvice(t, fromEnv.stderr)
  t.same(fromEnv.asked, [], 'the gateway was not asked')

  const config = join(t.testdir(), 'gateway.json')
  writeFileSync(config, JSON.stringify({ store: STORE, adminToken: 'admin-token-0123456789' }))
  const fromFile = await cli(['--config', config], {})
  t.equal(fromFile.code, 2)
  checkAdvice(t, fromFile.stderr)
  t.same(fromFile.asked, [])

  const withoutStore = await cli([], { WRISTPAY_GATEWAY_ADMIN_TOKEN: 'admin-token-0123456789' })
  t.equal(withoutStore.code, 0, 'without a store the gateway is asked as before')
  t.equal(withoutStore.asked.length, 1)
})

t.test('backup --offline handed a store URL instead of a file: exit 2 and what to run instead', async (t) => {
  const r = await cli(['--offline', '--db', STORE, '--to', t.testdir()], {})
  t.equal(r.code, 2)
  checkAdvice(t, r.stderr)
})

t.test('POST /admin/backups on a gateway with a store: 409 whose message says what to run instead', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.setErrorHandler(apiErrorHandler({ known: httpErrorAnswer, validation: { status: 400, type: 'invalid_request' }, failureLog: 'request failed' }))
  await app.register(backupsAdmin({ backups: undefined, store: STORE }))
  const onStore = await app.inject({ method: 'POST', url: '/backups', payload: {} })
  t.equal(onStore.statusCode, 409)
  const body = onStore.json<{ type: string; message: string }>()
  t.equal(body.type, 'backups_not_configured')
  checkAdvice(t, body.message)

  const plain = Fastify()
  t.teardown(() => plain.close())
  plain.setErrorHandler(apiErrorHandler({ known: httpErrorAnswer, validation: { status: 400, type: 'invalid_request' }, failureLog: 'request failed' }))
  await plain.register(backupsAdmin({ backups: undefined }))
  t.match((await plain.inject({ method: 'POST', url: '/backups', payload: {} })).json(), { type: 'backups_not_configured', message: /set backup\.dir/ }, 'on SQLite: set backup.dir, as before')
})

t.test("the gateway's start with a store and backup in its config: refused with what to run instead, before anything is opened", async (t) => {
  const dir = t.testdir({ 'event.json': JSON.stringify({ event: { name: 'Test' }, booths: [], products: [], kiosks: [], wristbands: [] }) })
  const error = await createGateway({
    config: { ...DEFAULT_CONFIG, dataDir: join(dir, 'gateway'), eventFile: join(dir, 'event.json'), store: STORE, backup: { dir: join(dir, 'backups') } },
    logger: pino({ level: 'silent' }),
  }).then(
    () => undefined,
    (err: unknown) => err as Error,
  )
  t.ok(error, 'the start is refused')
  checkAdvice(t, error!.message)
  t.match(error!.message, /Remove "backup" from the config/)
})
