// GET /admin/kiosks on a real gateway: every kiosk of the event set-up, from
// the fleet view, with whether its key is enrolled; behind the admin token.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { publicKeyToBase64Url } from '../../device-protocol/index.js'
import { createGateway } from '../app.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'
import { keyFingerprint } from '../registry/kiosk-keys.js'

const ADMIN_TOKEN = 'admin-token-for-the-kiosk-list'

t.test('GET /admin/kiosks lists every kiosk with its fleet status and whether its key is enrolled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-list-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const key = publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey)
  const event = {
    event: { name: 'List Fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', publicKey: key, saleAllowed: true, topupAllowed: false },
      { id: 'bar-2', booth: 'bar', token: 'token-bar-2-0123456789', saleAllowed: true, topupAllowed: false },
    ],
    wristbands: [{ uid: '04A1B2C3D4E5F6', pin: 'LSTQRW2345' }],
  }
  const config = loopbackGatewayConfig(dir, event, { adminToken: ADMIN_TOKEN })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const url = `http://127.0.0.1:${gateway.httpAddress!.port}/admin/kiosks`

  const anonymous = await fetch(url)
  t.equal(anonymous.status, 401, 'behind the admin token')
  const wrong = await fetch(url, { headers: { authorization: 'Bearer not-the-token' } })
  t.equal(wrong.status, 401)

  const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(res.status, 200)
  const body = (await res.json()) as { kiosks: Array<{ kiosk: string; booth: string; status: string; enrolled: boolean; keyFingerprint?: string; problems: string[] }> }
  const byId = new Map(body.kiosks.map((k) => [k.kiosk, k]))
  t.same([...byId.keys()].sort(), ['bar-1', 'bar-2'], 'every kiosk of the event, none made up')
  t.match(byId.get('bar-1'), { booth: 'bar', status: 'never_seen', enrolled: true, keyFingerprint: keyFingerprint(key) })
  t.match(byId.get('bar-2'), { booth: 'bar', status: 'never_seen', enrolled: false })
  t.notOk('keyFingerprint' in byId.get('bar-2')!, 'no fingerprint without a key')
  t.notMatch(JSON.stringify(body), /token-bar-/, 'no kiosk token in the answer')
})
