// Test helper: a Stripe simulator and an official `stripe` client pointed at it,
// both stopped by the test's teardown. Retries are off so that a test sees each
// answer as the simulator gave it.
import Stripe from 'stripe'
import { startStripeSim, type StripeSim, type StripeSimOptions } from '../server.js'

export const TEST_API_KEY = 'sk_test_wristpay_sim_0001'

/**
 * The official package pointed at the simulator. Made here, not with the
 * gateway's stripe-client, because a device simulator and its tests import
 * nothing of ours but device-protocol (ARCHITECTURE.md).
 */
export function stripeClientFor(sim: Pick<StripeSim, 'baseUrl'>, apiKey: string, maxNetworkRetries = 0): Stripe {
  const url = new URL(sim.baseUrl)
  return new Stripe(apiKey, { protocol: 'http', host: url.hostname, port: Number(url.port), maxNetworkRetries, telemetry: false })
}

export async function startSimWithClient(
  t: { teardown(fn: () => unknown): void },
  options: Partial<StripeSimOptions> = {},
): Promise<{ sim: StripeSim; stripe: Stripe }> {
  const sim = await startStripeSim({ apiKey: TEST_API_KEY, ...options })
  t.teardown(() => sim.close())
  const stripe = stripeClientFor(sim, TEST_API_KEY)
  return { sim, stripe }
}

/** A raw request to the simulator (for what the package would never send). */
export async function rawRequest(
  sim: StripeSim,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; apiKey?: string | null } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) }
  if (options.apiKey !== null) headers.authorization = `Bearer ${options.apiKey ?? sim.apiKey}`
  if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
  const response = await fetch(sim.baseUrl + path, { method, headers, body: options.body, redirect: 'manual' })
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // HTML pages stay text
  }
  return { status: response.status, body, headers: response.headers }
}

/** For tap's rejects() patterns that check only status or type: any message. */
export const ANY_MESSAGE = /[\s\S]*/
