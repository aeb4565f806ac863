// POST /enroll with an external broker: the kiosk's login gets the new token
// before the registration code is spent. When the broker cannot take it, the
// enrollment is refused (503 broker_provisioning_failed, Retry-After), the
// registry is unchanged and the same code works on a retry.
import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import { publicKeyToBase64Url } from '../device-protocol/index.js'
import { apiErrorHandler } from '../portal-api/http-errors.js'
import { httpErrorAnswer } from './http.js'
import { BROKER_PROVISIONING_RETRY_AFTER_S, kioskEnrollmentApi, type KioskEnrollmentDeps } from './kiosk-enrollment.js'
import { makeWorld, silentLogger } from './ledger/testing/test-helpers.js'
import { hashToken } from './registry/secrets.js'

t.test('a broker that cannot take the new login refuses the enrollment with nothing changed; the same code works on a retry', async (t) => {
  const world = makeWorld()
  t.teardown(world.close)
  const registry = world.ledger.registry
  const provisioned: Array<{ kioskId: string; tokenHash: string; registryTokenHash: string | undefined }> = []
  let brokerUp = false
  const tokenHashOf = (kioskId: string) => world.db.prepare<[string], { token_hash: string }>(`SELECT token_hash FROM kiosks WHERE id = ?`).get(kioskId)?.token_hash
  const deps: KioskEnrollmentDeps = {
    registry,
    clock: world.clock,
    logger: silentLogger,
    codeTtlMs: 3_600_000,
    mqttUrl: 'mqtt://broker.example:1883',
    mqttListener: () => ({ host: '127.0.0.1', port: 1883 }),
    publishKioskConfigs: async () => {},
    endKioskSessions: async () => {},
    async provisionKioskLogin(kioskId, token) {
      provisioned.push({ kioskId, tokenHash: hashToken(token), registryTokenHash: tokenHashOf(kioskId) })
      return brokerUp
    },
  }
  const app = Fastify()
  app.setErrorHandler(apiErrorHandler({ known: httpErrorAnswer, validation: { status: 400, type: 'invalid_request' }, failureLog: 'request failed' }))
  await app.register(kioskEnrollmentApi(deps))
  t.teardown(() => app.close())
  const { code } = registry.issueRegistrationCode('bar-1', world.clock.now(), 3_600_000)
  const publicKey = publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey)
  const enroll = () => app.inject({ method: 'POST', url: '/enroll', payload: { code, publicKey } })
  const tokenBefore = tokenHashOf('bar-1')
  const keyBefore = registry.kioskPublicKey('bar-1')?.export({ format: 'der', type: 'spki' }).toString('hex')

  const refused = await enroll()
  t.equal(refused.statusCode, 503)
  t.match(refused.json(), { type: 'broker_provisioning_failed', message: /registration code still works/ })
  t.equal(refused.headers['retry-after'], String(BROKER_PROVISIONING_RETRY_AFTER_S))
  t.equal(tokenHashOf('bar-1'), tokenBefore, 'the registry keeps the old token')
  t.equal(registry.kioskPublicKey('bar-1')?.export({ format: 'der', type: 'spki' }).toString('hex'), keyBefore, 'and the old key')
  t.same(registry.checkRegistrationCode(code, world.clock.now()), { ok: true, kioskId: 'bar-1' }, 'the code is not spent')

  brokerUp = true
  const enrolled = await enroll()
  t.equal(enrolled.statusCode, 200, 'the same code works on a retry')
  const { mqtt } = enrolled.json() as { mqtt: { username: string; token: string } }
  t.equal(mqtt.username, 'bar-1')
  t.same(
    provisioned.map((p) => p.kioskId),
    ['bar-1', 'bar-1'],
  )
  t.equal(provisioned[1]!.tokenHash, hashToken(mqtt.token), 'the broker got the token the kiosk was given')
  t.equal(provisioned[1]!.registryTokenHash, tokenBefore, 'before the registry had it')
  t.equal(tokenHashOf('bar-1'), hashToken(mqtt.token), 'the registry has it now')
  t.match((await enroll()).json(), { type: 'registration_code_used' }, 'and the code is spent')
  t.equal(provisioned.length, 2, 'a code that would be refused never reaches the broker')
})
