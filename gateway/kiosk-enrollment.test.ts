// Enrollment by registration code over real sockets: an operator makes a kiosk
// (or asks for a new code for one of the file) and gets a code with its
// command line and QR code; POST /enroll spends the code for MQTT credentials
// that log in; a code works once and not after it expires; wrong codes change
// nothing and are throttled per address; re-enrolling a kiosk ends its live
// connection and revokes its old token and key; a reload keeps it all.
import t, { type Test } from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import { GENESIS_HASH, publicKeyToBase64Url, signTransaction, topics, validateReply, type ReplyMessage } from '../device-protocol/index.js'
import { createGateway, type Gateway } from './app.js'
import { resolveConfig } from './config.js'
import { brokerUrlFor } from './kiosk-enrollment.js'

const ADMIN_TOKEN = 'admin-token-for-enrollment-tests'
const BAR1_FILE_TOKEN = 'token-bar-1-0123456789'
const UID = '04A1B2C3D4E5F6'
const DAY_MS = 24 * 3_600_000
const CODE = /^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/

const EVENT = {
  event: { name: 'Enroll Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: BAR1_FILE_TOKEN, saleAllowed: true, topupAllowed: false }],
  wristbands: [{ uid: UID, pin: 'ENRXLL2345' }],
}

interface World {
  gateway: Gateway
  http: string
  mqttUrl: string
  clock: { now(): number; advance(ms: number): void }
}

async function startWorld(t: Test, logLines?: string[]): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-enroll-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'event.json'), JSON.stringify(EVENT))
  let nowMs = Date.now()
  const clock = { now: () => nowMs, advance: (ms: number) => void (nowMs += ms) }
  const config = resolveConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    eventFile: join(dir, 'event.json'),
    adminToken: ADMIN_TOKEN,
    logLevel: 'silent',
  })
  const logger = logLines === undefined ? pino({ level: 'silent' }) : pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) })
  const gateway = await createGateway({ config, logger, clock })
  t.teardown(() => gateway.stop())
  await gateway.start()
  return { gateway, http: `http://127.0.0.1:${gateway.httpAddress!.port}`, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, clock }
}

async function post(url: string, body: unknown, admin = true): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json(), headers: res.headers }
}

function newKey(): { privateKey: KeyObject; publicKey: string } {
  const pair = generateKeyPairSync('ed25519')
  return { privateKey: pair.privateKey, publicKey: publicKeyToBase64Url(pair.publicKey) }
}

async function login(t: Test, url: string, username: string, password: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 5000 })
  t.teardown(() => client.endAsync(true))
  return client
}

async function loginRefused(url: string, username: string, password: string): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 5000 })
    await client.endAsync(true)
    return false
  } catch {
    return true
  }
}

/** Publishes one sale signed with `privateKey` as the kiosk's first and resolves with the gateway's reply. */
async function firstSale(client: MqttClient, kioskId: string, privateKey: KeyObject): Promise<ReplyMessage> {
  const replies: ReplyMessage[] = []
  client.on('message', (topic, payload) => {
    const reply = validateReply(JSON.parse(payload.toString('utf8')))
    if (topic === topics.kioskReply(kioskId) && reply.ok) replies.push(reply.value)
  })
  await client.subscribeAsync(topics.kioskReply(kioskId), { qos: 1 })
  const envelope = signTransaction(
    { v: 1, id: uuidv7(), kiosk: kioskId, seq: 1, prev: GENESIS_HASH, type: 'sale', tag: { uid: UID, type: 'ntag215' }, lines: [{ product: 'beer', qty: 1, unitPrice: 450 }], amount: 450, at: Date.now() },
    privateKey,
  )
  await client.publishAsync(topics.kioskTx(kioskId), JSON.stringify(envelope), { qos: 1 })
  for (let i = 0; i < 500 && !replies.some((r) => r.kind === 'result'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  const reply = replies.find((r) => r.kind === 'result')
  if (reply === undefined) throw new Error('no reply to the sale')
  return reply
}

t.test('an operator makes a kiosk and gets a code; the kiosk spends it once for MQTT credentials that log in; a reload keeps the kiosk', async (t) => {
  const w = await startWorld(t)
  t.equal((await post(`${w.http}/admin/kiosks`, { id: 'bar-2', booth: 'bar', saleAllowed: true }, false)).status, 401, 'behind the admin token')

  const made = await post(`${w.http}/admin/kiosks`, { id: 'bar-2', booth: 'bar', saleAllowed: true })
  t.equal(made.status, 201)
  t.match(made.body, { kioskId: 'bar-2', booth: 'bar', code: CODE, expiresAt: w.clock.now() + DAY_MS })
  t.equal(made.body.enrollCommand, `wristpay-kiosk enroll --gateway ${w.http} --code ${made.body.code}`, 'the command names this gateway and the code')
  t.match(made.body.qr.svg, /^<svg[^>]*>/)
  t.match(made.body.qr.dataUrl, /^data:image\/png;base64,/)
  t.match(await post(`${w.http}/admin/kiosks`, { id: 'bar-2', booth: 'bar', saleAllowed: true }), { status: 409, body: { type: 'kiosk_exists' } })
  t.match(await post(`${w.http}/admin/kiosks`, { id: 'bar-3', booth: 'nowhere', saleAllowed: true }), { status: 400, body: { type: 'unknown_booth' } })
  t.match(await post(`${w.http}/admin/kiosks`, { id: 'bar-3', booth: 'bar' }), { status: 400, body: { type: 'invalid_request' } }, 'a kiosk that may do nothing')

  const key = newKey()
  const wrong = await post(`${w.http}/enroll`, { code: 'ABCD-EFGH-JKLM-NPQR', publicKey: key.publicKey }, false)
  t.match(wrong, { status: 401, body: { type: 'invalid_registration_code' } })
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-2'), undefined, 'a wrong code enrolls nothing')

  const enrolled = await post(`${w.http}/enroll`, { code: made.body.code.toLowerCase(), publicKey: key.publicKey }, false)
  t.equal(enrolled.status, 200)
  t.match(enrolled.body, { kioskId: 'bar-2', booth: 'bar', mqtt: { url: w.mqttUrl, username: 'bar-2', token: /^[A-Za-z0-9_-]{43}$/ }, gatewayKey: /^[A-Za-z0-9_-]{43}$/ })
  const kiosk = await login(t, enrolled.body.mqtt.url, enrolled.body.mqtt.username, enrolled.body.mqtt.token)
  t.match(await firstSale(kiosk, 'bar-2', key.privateKey), { status: 'rejected', reason: 'insufficient_balance' }, 'its signature is good: the sale reaches the rules')

  const again = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: newKey().publicKey }, false)
  t.match(again, { status: 410, body: { type: 'registration_code_used' } }, 'a code works once')
  t.notOk(await loginRefused(w.mqttUrl, 'bar-2', enrolled.body.mqtt.token), 'the spent code changed nothing: the token still logs in')

  const reload = await fetch(`${w.http}/admin/event/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(await reload.json(), { kiosksRetired: [] }, 'a reload does not retire a kiosk the file never listed')
  t.notOk(await loginRefused(w.mqttUrl, 'bar-2', enrolled.body.mqtt.token), 'and it still logs in')
})

t.test("a new code for a kiosk of the file (a replaced Pi): its live connection ends, its old token and key are revoked, a reload keeps the new ones", async (t) => {
  const w = await startWorld(t)
  const old = newKey()
  const put = await fetch(`${w.http}/admin/kiosks/bar-1/public-key`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ publicKey: old.publicKey }),
  })
  t.equal(put.status, 200)
  const oldPi = await login(t, w.mqttUrl, 'bar-1', BAR1_FILE_TOKEN)
  const closed = new Promise<void>((resolve) => oldPi.once('close', () => resolve()))

  const noBody = await fetch(`${w.http}/admin/kiosks/bar-1/registration-code`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(noBody.status, 200, 'asked for without a body')
  const issued = await post(`${w.http}/admin/kiosks/bar-1/registration-code`, { gatewayUrl: 'http://10.0.0.1:8080' })
  t.match(issued, { status: 200, body: { kioskId: 'bar-1', code: CODE, enrollCommand: /^wristpay-kiosk enroll --gateway http:\/\/10\.0\.0\.1:8080 --code / } })
  t.match(await post(`${w.http}/admin/kiosks/nope-1/registration-code`, {}), { status: 404, body: { type: 'unknown_kiosk' } })
  t.match(await post(`${w.http}/enroll`, { code: ((await noBody.json()) as { code: string }).code, publicKey: newKey().publicKey }, false), { status: 401 }, 'the newer code replaced the earlier one')

  const fresh = newKey()
  const enrolled = await post(`${w.http}/enroll`, { code: issued.body.code, publicKey: fresh.publicKey }, false)
  t.equal(enrolled.status, 200)
  await closed
  t.pass("the old Pi's connection was ended")
  t.ok(await loginRefused(w.mqttUrl, 'bar-1', BAR1_FILE_TOKEN), 'the old token no longer logs in')
  const newPi = await login(t, w.mqttUrl, 'bar-1', enrolled.body.mqtt.token)
  t.match(await firstSale(newPi, 'bar-1', old.privateKey), { status: 'rejected', reason: 'bad_signature' }, "the old key's transactions are refused")

  await fetch(`${w.http}/admin/event/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.ok(await loginRefused(w.mqttUrl, 'bar-1', BAR1_FILE_TOKEN), "a reload does not bring the file's token back")
  t.notOk(await loginRefused(w.mqttUrl, 'bar-1', enrolled.body.mqtt.token), 'the enrolled token still logs in')
})

t.test('a code expires; wrong codes are throttled per address, and a throttled request changes nothing', async (t) => {
  const w = await startWorld(t)
  const expiring = await post(`${w.http}/admin/kiosks`, { id: 'bar-2', booth: 'bar', saleAllowed: true })
  w.clock.advance(DAY_MS)
  t.match(await post(`${w.http}/enroll`, { code: expiring.body.code, publicKey: newKey().publicKey }, false), { status: 410, body: { type: 'registration_code_expired' } })
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-2'), undefined, 'an expired code enrolls nothing')

  const issued = await post(`${w.http}/admin/kiosks/bar-2/registration-code`, {})
  // The expired code was the first failure; three more wrong codes, and the fifth starts the block.
  for (let i = 0; i < 3; i++) t.equal((await post(`${w.http}/enroll`, { code: 'ABCD-EFGH-JKLM-NPQR', publicKey: newKey().publicKey }, false)).status, 401)
  const fifth = await post(`${w.http}/enroll`, { code: 'ABCD-EFGH-JKLM-NPQR', publicKey: newKey().publicKey }, false)
  t.equal(fifth.status, 401, 'the failure that starts the block is still answered as wrong')
  const throttled = await post(`${w.http}/enroll`, { code: issued.body.code, publicKey: newKey().publicKey }, false)
  t.match(throttled, { status: 429, body: { type: 'rate_limited' } }, 'a blocked address is not even checked')
  t.ok(Number(throttled.headers.get('retry-after')) >= 1)
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-2'), undefined, 'the throttled request enrolled nothing')

  w.clock.advance(61_000)
  const key = newKey()
  t.equal((await post(`${w.http}/enroll`, { code: issued.body.code, publicKey: key.publicKey }, false)).status, 200, 'once the block is over the right code works')
})

t.test('neither the code nor the token reaches the log', async (t) => {
  const lines: string[] = []
  const w = await startWorld(t, lines)
  const made = await post(`${w.http}/admin/kiosks`, { id: 'bar-2', booth: 'bar', saleAllowed: true })
  await post(`${w.http}/enroll`, { code: 'ABCD-EFGH-JKLM-NPQR', publicKey: newKey().publicKey }, false)
  const enrolled = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: newKey().publicKey }, false)
  t.equal(enrolled.status, 200)
  const log = lines.join('')
  t.match(log, /registration code issued for kiosk bar-2/, 'the log says what happened')
  t.match(log, /kiosk bar-2 enrolled by registration code/)
  for (const secret of [made.body.code, made.body.code.replace(/-/g, ''), 'ABCD-EFGH-JKLM-NPQR', enrolled.body.mqtt.token]) t.notOk(log.includes(secret), 'a secret is not in the log')
})

t.test('the broker handed out: the listener\'s host, or for every address the host the kiosk enrolled through; mqtts:// with TLS', async (t) => {
  t.equal(brokerUrlFor({ host: '10.0.0.1', port: 1883 }, 'gateway.local'), 'mqtt://10.0.0.1:1883')
  t.equal(brokerUrlFor({ host: '0.0.0.0', port: 1883 }, 'gateway.local'), 'mqtt://gateway.local:1883')
  t.equal(brokerUrlFor({ host: '::', port: 8883, tls: true }, 'fd00::1'), 'mqtts://[fd00::1]:8883')
})

t.test('hostile bodies to POST /enroll are refused with a clear error, spend no code and change no kiosk', async (t) => {
  const w = await startWorld(t)
  const made = await post(`${w.http}/admin/kiosks/bar-1/registration-code`, {})
  t.equal(made.status, 200)
  const raw = async (body: string, contentType = 'application/json') => {
    const res = await fetch(`${w.http}/enroll`, { method: 'POST', headers: { 'content-type': contentType }, body })
    return { status: res.status, body: (await res.json()) as { type?: string; message?: string } }
  }
  const key = newKey()
  const cases: Array<[string, string, string?]> = [
    ['not JSON', '{"code": '],
    ['an array', '[]'],
    ['no code', JSON.stringify({ publicKey: key.publicKey })],
    ['no key', JSON.stringify({ code: made.body.code })],
    ['a key one character short', JSON.stringify({ code: made.body.code, publicKey: key.publicKey.slice(1) })],
    ['a key of the wrong shape', JSON.stringify({ code: made.body.code, publicKey: '<script>' })],
    ['a huge code', JSON.stringify({ code: 'A'.repeat(100_000), publicKey: key.publicKey })],
    ['the code as a number', JSON.stringify({ code: 1234, publicKey: key.publicKey })],
    ['a form body', `code=${made.body.code}&publicKey=${key.publicKey}`, 'application/x-www-form-urlencoded'],
  ]
  for (const [what, body, contentType] of cases) {
    const answer = await raw(body, contentType)
    t.ok(answer.status >= 400 && answer.status < 500, `${what}: refused (${answer.status})`)
    t.type(answer.body.type, 'string', `${what}: a named error`)
    t.notMatch(JSON.stringify(answer.body), made.body.code, `${what}: the code is not quoted back`)
  }
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-1'), undefined, 'no key was enrolled')
  t.notOk(await loginRefused(w.mqttUrl, 'bar-1', BAR1_FILE_TOKEN), "the kiosk's token is unchanged")
  const enrolled = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: key.publicKey }, false)
  t.equal(enrolled.status, 200, 'the code was not spent by any of it')
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-1') === undefined, false)
})

t.test('a weak key (all zero, the identity, small order) is refused by POST /enroll and by PUT /admin/kiosks/:id/public-key: no code spent, no key enrolled', async (t) => {
  const w = await startWorld(t)
  const made = await post(`${w.http}/admin/kiosks/bar-1/registration-code`, {})
  t.equal(made.status, 200)
  const weak = [
    ['all zero', Buffer.alloc(32).toString('base64url')],
    ['the identity', Buffer.from('01'.padEnd(64, '0'), 'hex').toString('base64url')],
    ['an order-8 point', Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex').toString('base64url')],
  ]
  for (const [what, publicKey] of weak) {
    const enroll = await post(`${w.http}/enroll`, { code: made.body.code, publicKey }, false)
    t.equal(enroll.status, 400, `/enroll, ${what}`)
    t.equal(enroll.body.type, 'invalid_public_key', `/enroll, ${what}`)
    t.match(enroll.body.message, /weak Ed25519 key|canonical/, `/enroll, ${what}: says why`)
    const put = await fetch(`${w.http}/admin/kiosks/bar-1/public-key`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ publicKey }),
    })
    t.equal(put.status, 400, `PUT, ${what}`)
    t.equal(((await put.json()) as { type: string }).type, 'invalid_public_key', `PUT, ${what}`)
  }
  t.equal(w.gateway.ledger.registry.kioskPublicKey('bar-1'), undefined, 'no key was enrolled')
  const key = newKey()
  const enrolled = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: key.publicKey }, false)
  t.equal(enrolled.status, 200, 'the code was not spent by the weak keys')
})

t.test('POST /enroll on a database that cannot take the write answers 503 storage_unavailable, not a bad key, and the code works once the disk is back', async (t) => {
  const w = await startWorld(t)
  const made = await post(`${w.http}/admin/kiosks/bar-1/registration-code`, {})
  const registry = w.gateway.ledger.registry
  const redeem = registry.redeemRegistrationCode
  registry.redeemRegistrationCode = () => {
    throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
  }
  const key = newKey()
  const full = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: key.publicKey }, false)
  t.equal(full.status, 503)
  t.equal(full.body.type, 'storage_unavailable')
  registry.redeemRegistrationCode = redeem
  const enrolled = await post(`${w.http}/enroll`, { code: made.body.code, publicKey: key.publicKey }, false)
  t.equal(enrolled.status, 200, 'the code was not spent by the failed write')
})
