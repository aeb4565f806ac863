// Test helpers: a provider simulator listening on 127.0.0.1 (closed by the
// test's teardown), raw JSON requests to it, and a local endpoint that
// records the webhooks it receives.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createProviderSim, type ProviderSim, type ProviderSimOptions } from '../server.js'

export const TEST_SECRET_KEY = 'stest_wristpay_provider_sim_0001'

type Teardown = { teardown(fn: () => unknown): void }

export async function startSim(t: Teardown, options: Partial<ProviderSimOptions> = {}): Promise<ProviderSim> {
  const sim = createProviderSim({ secretKey: TEST_SECRET_KEY, seed: 'test', ...options })
  await sim.listen()
  t.teardown(() => sim.close())
  return sim
}

export interface ApiAnswer {
  status: number
  body: any
  headers: Headers
}

export interface RequestOptions {
  /** A JSON value to send (serialised), or `raw` for exactly these bytes. */
  json?: unknown
  raw?: string
  headers?: Record<string, string>
  /** null: no Authorization header; a string: Bearer with it; `{basic}`: Basic with it as user. */
  auth?: null | string | { basic: string }
  signal?: AbortSignal
}

export async function api(sim: Pick<ProviderSim, 'baseUrl'>, method: string, path: string, options: RequestOptions = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) }
  const auth = options.auth === undefined ? TEST_SECRET_KEY : options.auth
  if (typeof auth === 'string') headers.authorization = `Bearer ${auth}`
  else if (auth !== null) headers.authorization = `Basic ${Buffer.from(`${auth.basic}:`).toString('base64')}`
  let body: string | undefined = options.raw
  if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    headers['content-type'] ??= 'application/json'
  }
  const response = await fetch(sim.baseUrl + path, { method, headers, body, redirect: 'manual', signal: options.signal })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // HTML pages stay text
  }
  return { status: response.status, body: parsed, headers: response.headers }
}

/** A paid intent of `amount` cents (the guest paid on the hosted page); its payment id. */
export async function paidPayment(sim: ProviderSim, amount: number, orderId = 'order-1'): Promise<string> {
  const created = await api(sim, 'POST', '/v2/payment_intents', { json: { amount, currency: 'eur', order_id: orderId, threeds: 'none' } })
  if (created.status !== 200) throw new Error(`intent not created: ${JSON.stringify(created.body)}`)
  const paid = sim.controls.payIntent(created.body.id, 'paid')
  return paid.payment as string
}

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders
  body: any
}

export async function startWebhookReceiver(t: Teardown, statusCode = 200): Promise<{ url: string; received: ReceivedWebhook[] }> {
  const received: ReceivedWebhook[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      res.writeHead(statusCode, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/webhooks/provider`, received }
}
