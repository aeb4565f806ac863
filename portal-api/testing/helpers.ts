// Test helpers of the portal API: a fastify server with the plugin on
// 127.0.0.1:0 (the same ajv settings as the gateway's server), a fake top-up
// service, a log capture, small fetch helpers. Test code only.
import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import type { Test } from 'tap'
import type { Clock } from '../../device-protocol/index.js'
import type { CheckoutStatus, PortalBackend, TopupService } from '../backend.js'
import type { PinAttemptLimiter, PinAttemptRefusal, PinCheckSource } from '../pin-attempts.js'
import { portalApi, type LoginRateLimit } from '../plugin.js'

export const TEST_SECRET = new Uint8Array(Buffer.from('portal-test-secret-0123456789abcdef-0123456789', 'utf8'))

export function manualClock(startMs = 1_750_000_000_000): Clock & { advance(ms: number): void } {
  let now = startMs
  return { now: () => now, advance: (ms) => void (now += ms) }
}

/** A PIN limiter that records its use; it allows everything unless told to refuse (the real one is the gateway's). */
export interface RecordingPinAttempts extends PinAttemptLimiter {
  sources: PinCheckSource[]
  refunds: number
  refuse?: { reason: PinAttemptRefusal; retryAfterMs: number }
}

export function recordingPinAttempts(): RecordingPinAttempts {
  const fake: RecordingPinAttempts = {
    sources: [],
    refunds: 0,
    attempt(source) {
      fake.sources.push(source)
      if (fake.refuse !== undefined) return { allowed: false, ...fake.refuse }
      return { allowed: true, refund: () => void fake.refunds++ }
    },
  }
  return fake
}

export interface FakeTopups extends TopupService {
  created: { uid: string; amountCents: number; checkoutId: string }[]
  statuses: Map<string, CheckoutStatus>
  fail: boolean
}

export function fakeTopups(): FakeTopups {
  const fake: FakeTopups = {
    created: [],
    statuses: new Map(),
    fail: false,
    async createCheckout({ uid, amountCents }) {
      if (fake.fail) throw new Error('provider down')
      const checkoutId = `chk-${fake.created.length + 1}`
      fake.created.push({ uid, amountCents, checkoutId })
      fake.statuses.set(checkoutId, 'PENDING')
      return { checkoutId, redirectUrl: `https://pay.example/${checkoutId}` }
    },
    async checkCheckout({ checkoutId }) {
      if (fake.fail) throw new Error('provider down')
      const status = fake.statuses.get(checkoutId)
      if (status === undefined) throw new Error('unknown checkout')
      return { status }
    },
  }
  return fake
}

/** Every log line written, as text, to search for secrets. */
export function logCapture(): { logger: Logger; text(): string } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  return { logger: pino({ level: 'trace' }, stream), text: () => chunks.join('') }
}

export interface StartedPortal {
  app: FastifyInstance
  base: string
}

export async function startPortal(
  t: Test,
  options: { backend: PortalBackend; clock: Clock; logger?: Logger; rateLimit?: Partial<LoginRateLimit>; tokenTtlS?: number; prefix?: string; pinAttempts?: PinAttemptLimiter },
): Promise<StartedPortal> {
  const logger = options.logger ?? pino({ level: 'silent' })
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // As the gateway's server: unknown properties are refused, types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  })
  await app.register(portalApi, {
    prefix: options.prefix ?? '/api',
    backend: options.backend,
    authSecret: TEST_SECRET,
    clock: options.clock,
    logger,
    // Generous by default so only the rate-limit tests hit the limits.
    rateLimit: { perIpMax: 10_000, ...options.rateLimit },
    pinAttempts: options.pinAttempts ?? recordingPinAttempts(),
    ...(options.tokenTtlS === undefined ? {} : { tokenTtlS: options.tokenTtlS }),
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return { app, base: `http://127.0.0.1:${address.port}${options.prefix ?? '/api'}` }
}

export interface Answer {
  status: number
  headers: Headers
  body: any
  text: string
}

/** One HTTP call; body is a value to JSON-encode, or a raw string sent as is. */
export async function call(base: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let body: string | undefined
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json'
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  let parsed: unknown = undefined
  if (text.length > 0 && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text)
  return { status: res.status, headers: res.headers, body: parsed, text }
}

export async function login(base: string, pin: string): Promise<string> {
  const res = await call(base, 'POST', '/auth/login', { body: { pin } })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`)
  return res.body.access_token as string
}

/** The authenticated operations: method, path and a valid body. */
export const AUTHENTICATED_ROUTES: { method: string; path: string; body?: unknown }[] = [
  { method: 'POST', path: '/auth/logout' },
  { method: 'GET', path: '/customer' },
  { method: 'GET', path: '/orders_with_bon' },
  { method: 'POST', path: '/customer_info', body: { iban: 'DE89370400440532013000', account_name: 'A', email: 'a@example.org', donation: 0 } },
  { method: 'POST', path: '/customer_all_donation' },
  { method: 'GET', path: '/payout_info' },
  { method: 'GET', path: '/get_payout_transactions' },
  { method: 'POST', path: '/sumup/create-checkout', body: { amount: 10 } },
  { method: 'POST', path: '/sumup/check-checkout', body: { order_uuid: '00000000-0000-4000-8000-000000000000' } },
]
