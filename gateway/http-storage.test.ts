// The admin API and /healthz when the gateway's database cannot take a write:
// a key enrolment that fails on a full disk is storage_unavailable (503), not
// a bad key (400); /healthz is degraded while ingest reports a storage fault.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { pino } from 'pino'
import { publicKeyToBase64Url } from '../device-protocol/index.js'
import { createHttpServer, type GatewayHealth } from './http.js'

const ADMIN_TOKEN = 'admin-token-0123456789'

t.test('enrolling a key on a full disk answers 503 storage_unavailable; /healthz says storage failing', async (t) => {
  let fault: string | undefined = 'SQLITE_FULL'
  const health: GatewayHealth = { mqtt: true, db: true, storage: { code: 'SQLITE_FULL', since: 1_750_000_000_000 } }
  const server = createHttpServer({
    logger: pino({ level: 'silent' }),
    adminToken: ADMIN_TOKEN,
    health: () => health,
    kioskExists: (id) => id === 'bar-1',
    enrollKiosk: () => {
      if (fault !== undefined) throw Object.assign(new Error('database or disk is full'), { code: fault })
    },
    stats: () => ({ ledger: {}, ingest: {}, broker: {}, gateway: {} }) as never,
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${port}`
  const enroll = () =>
    fetch(`${base}/admin/kiosks/bar-1/public-key`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ publicKey: publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey) }),
    })

  const full = await enroll()
  t.equal(full.status, 503)
  t.match(await full.json(), { type: 'storage_unavailable', message: /SQLITE_FULL/ })
  t.ok(full.headers.get('retry-after'))
  fault = 'SQLITE_IOERR_WRITE'
  t.equal((await enroll()).status, 503)

  const degraded = await fetch(`${base}/healthz`)
  t.equal(degraded.status, 503)
  t.same(await degraded.json(), { status: 'degraded', mqtt: 'up', db: 'up', storage: { status: 'failing', code: 'SQLITE_FULL', since: 1_750_000_000_000 } })

  fault = undefined
  delete health.storage
  t.equal((await enroll()).status, 200, 'works again without a restart')
  const ok = await fetch(`${base}/healthz`)
  t.same({ status: ok.status, body: await ok.json() }, { status: 200, body: { status: 'ok', mqtt: 'up', db: 'up' } })
})
