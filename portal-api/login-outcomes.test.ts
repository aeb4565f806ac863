// The portal API tells its observeLogin how every login ended (the gateway
// counts them in its metrics): each refusal by its own outcome, also those the
// rate limiter and the schema answer before the handler runs.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { portalApi, type PortalLoginOutcome } from './plugin.js'
import { TEST_SECRET, fakeTopups, manualClock, recordingPinAttempts, type RecordingPinAttempts } from './testing/helpers.js'
import { createMemoryPortalBackend } from './testing/memory-backend.js'

const ALICE = { uid: '04A1B2C3D4E5F6', pin: 'ALICEPIN23' }
const BLOCKED = { uid: '04BADBADBADBAD', pin: 'BLOCKED234' }

async function portal(t: Test, observeLogin: ((outcome: PortalLoginOutcome) => void) | undefined, perIpMax = 10_000): Promise<{ app: FastifyInstance; pins: RecordingPinAttempts }> {
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } })
  t.teardown(() => app.close())
  const pins = recordingPinAttempts()
  await app.register(portalApi, {
    prefix: '/api',
    backend: createMemoryPortalBackend({ guests: [{ ...ALICE, balanceCents: 100 }, { ...BLOCKED, balanceCents: 0, blocked: true }], topups: fakeTopups() }),
    authSecret: TEST_SECRET,
    clock: manualClock(),
    logger: pino({ level: 'silent' }),
    rateLimit: { perIpMax },
    pinAttempts: pins,
    ...(observeLogin ? { observeLogin } : {}),
  })
  await app.ready()
  return { app, pins }
}

const login = (app: FastifyInstance, body: unknown) => app.inject({ method: 'POST', url: '/api/auth/login', payload: body as object })

t.test('each way a login ends is told once, after the answer', async (t) => {
  const outcomes: PortalLoginOutcome[] = []
  const { app, pins } = await portal(t, (o) => outcomes.push(o))
  t.equal((await login(app, { pin: ALICE.pin })).statusCode, 200)
  t.equal((await login(app, { pin: 'WXYZABCD22' })).statusCode, 404)
  t.equal((await login(app, { pin: BLOCKED.pin })).statusCode, 403)
  t.equal((await login(app, { nope: 1 })).statusCode, 422)
  pins.refuse = { reason: 'source_limit', retryAfterMs: 60_000 }
  t.equal((await login(app, { pin: ALICE.pin })).statusCode, 429)
  t.same(outcomes, ['success', 'invalid_pin', 'wristband_blocked', 'invalid_request', 'throttled'])
  // Other routes are not logins.
  await app.inject({ method: 'GET', url: '/api/customer' })
  t.equal(outcomes.length, 5)
})

t.test("the per-address rate limiter's refusal is a throttled login too", async (t) => {
  const outcomes: PortalLoginOutcome[] = []
  const { app } = await portal(t, (o) => outcomes.push(o), 2)
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await login(app, { pin: 'WXYZABCD22' })).statusCode)
  t.same(statuses, [404, 404, 429])
  t.same(outcomes, ['invalid_pin', 'invalid_pin', 'throttled'])
})

t.test('an observer that throws changes no answer; without one logins work as before', async (t) => {
  const { app } = await portal(t, () => {
    throw new Error('observer broke')
  })
  t.equal((await login(app, { pin: ALICE.pin })).statusCode, 200)
  const plain = await portal(t, undefined)
  t.equal((await login(plain.app, { pin: ALICE.pin })).statusCode, 200)
})
