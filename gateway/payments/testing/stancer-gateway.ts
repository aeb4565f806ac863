// A whole gateway in-process (MQTT and HTTP on 127.0.0.1:0; its SQLite file in
// a temporary folder, or the engine's PostgreSQL database as its `store`) with
// the stancer provider pointing at the provider simulator over real HTTP, and a
// JSON client for its HTTP API: the world of the tests that take card payments
// through the whole gateway (disputes, refund runs).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Test } from 'tap'
import { DEFAULT_CONFIG, type GatewayConfig } from '../../config.js'
import type { EventSetup } from '../../event-setup.js'
import type { WorldEngine } from '../../testing/world-engines.js'
import { startLoopbackGateway } from '../../../simulators/e2e/kiosk-harness.js'
import { startSim, TEST_SECRET_KEY } from '../../../simulators/provider-sim/testing/sim-client.js'

export interface JsonAnswer {
  status: number
  // The tests read what they expect of each answer.
  body: any
}

export async function startStancerGateway(t: Test, engine: WorldEngine, options: { setup: EventSetup; dirPrefix: string; config?: Partial<GatewayConfig> }) {
  const sim = await startSim(t)
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix))
  const store = engine.database(t).gatewayStore(dir)
  const gateway = await startLoopbackGateway({
    dir,
    setup: options.setup,
    logger: pino({ level: 'silent' }),
    config: {
      ...options.config,
      payments: { ...DEFAULT_CONFIG.payments, stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl } },
      ...(store === undefined ? {} : { store }),
    },
  })
  t.teardown(async () => {
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  sim.controls.setWebhookUrl(`${base}/payments/webhooks/stancer`)
  /** A request with a JSON body (when given); the answer's JSON body, undefined when empty. */
  const json = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer> => {
    const res = await fetch(base + path, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
  }
  return { sim, gateway, base, json }
}
