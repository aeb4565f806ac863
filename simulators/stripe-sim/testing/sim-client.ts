// Test helper: a Stripe simulator and an official `stripe` client pointed at it,
// both stopped by the test's teardown. Retries are off so that a test sees each
// answer as the simulator gave it.
import type Stripe from 'stripe'
import { createStripeClient } from '../../../gateway/payments/stripe-client.js'
import { startStripeSim, type StripeSim, type StripeSimOptions } from '../server.js'

export const TEST_API_KEY = 'sk_test_wristpay_sim_0001'

export async function startSimWithClient(
  t: { teardown(fn: () => unknown): void },
  options: Partial<StripeSimOptions> = {},
): Promise<{ sim: StripeSim; stripe: Stripe }> {
  const sim = await startStripeSim({ apiKey: TEST_API_KEY, ...options })
  t.teardown(() => sim.close())
  const stripe = createStripeClient({ apiKey: TEST_API_KEY, baseUrl: sim.baseUrl, maxNetworkRetries: 0 })
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
