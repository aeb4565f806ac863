// `npm run bench`: signed sales end to end (kiosks sign, broker, ingest,
// ledger commit, answer), and in the same run the ceilings this machine puts
// on them: raw Ed25519 verifies/s and raw QoS 1 round trips/s of the embedded
// broker. Then the portal-load scenario (portal-load.ts): sales at a fixed
// offered rate, first alone, then while guests poll the portal. Prints
// readable lines, then one JSON object as the last line.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { startLoopbackGateway } from '../e2e/kiosk-harness.js'
import { publicKeyToBase64Url, systemClock } from '../../device-protocol/index.js'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'
import { createFleetKiosk, type FleetKiosk } from './kiosk-fleet.js'
import { measureAsyncVerifiesPerSec, measureBrokerRoundTripsPerSec, measureVerifiesPerSec } from './limits.js'
import { portalLoadReport, runPortalLoad } from './portal-load.js'
import { percentile } from './stats.js'

const { values: args } = parseArgs({
  options: {
    kiosks: { type: 'string', default: '8' },
    window: { type: 'string', default: '32' },
    wristbands: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    only: { type: 'string' },
    'portal-rate': { type: 'string', default: '500' },
    'portal-guests': { type: 'string', default: '200' },
    'portal-seconds': { type: 'string', default: '20' },
    'portal-poll-ms': { type: 'string', default: '2000' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench -- [--only e2e|portal-load] [--kiosks N] [--window N] [--wristbands N] [--seconds S] [--portal-...]
  --only            run one scenario: e2e (the limits and sales end to end) or portal-load (default both)
  --kiosks          simulated kiosks publishing at once (default 8)
  --window          transactions each kiosk keeps in flight (default 32)
  --wristbands      guests (default 64)
  --seconds         length of the measured sales phase (default 5)
  --portal-rate     portal load: sales offered per second, paced (default 500)
  --portal-guests   portal load: guests logged in to the portal, polling (default 200)
  --portal-seconds  portal load: length of each phase, baseline and with the guests (default 20)
  --portal-poll-ms  portal load: each guest refreshes this long after the last refresh was answered (default 2000)`)
  process.exit(0)
}
const kioskCount = Number(args.kiosks)
const window = Number(args.window)
const wristbandCount = Number(args.wristbands)
const durationMs = Number(args.seconds) * 1000
const BEER_CENTS = 450
const TOPUP_CENTS = 5_000_000

async function endToEnd(): Promise<{
  salesPerSec: number
  sales: number
  latencies: number[]
  invariantViolations: number
  ledgerBalanced: boolean
}> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-'))
  const kioskKeys = Array.from({ length: kioskCount }, () => generateKeyPairSync('ed25519'))
  const setup: EventSetup = {
    event: { name: 'bench', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: BEER_CENTS, booth: 'bar' }],
    kiosks: kioskKeys.map((key, i) => ({
      id: `bench-${i + 1}`,
      booth: 'bar',
      token: randomBytes(24).toString('base64url'),
      publicKey: publicKeyToBase64Url(key.publicKey),
      saleAllowed: true,
      topupAllowed: true,
    })),
    wristbands: Array.from({ length: wristbandCount }, (_, i) => ({
      uid: (0x04000000 + i).toString(16).toUpperCase().padStart(14, '0'),
      pin: randomPin(),
    })),
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: pino({ level: 'warn' }), config: { logLevel: 'warn' } })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const fleet: FleetKiosk[] = setup.kiosks.map((k, i) =>
    createFleetKiosk({ kioskId: k.id, token: k.token, privateKey: kioskKeys[i]!.privateKey, mqttUrl, clock: systemClock }),
  )
  try {
    await Promise.all(fleet.map((k) => k.connect()))
    // Warm-up, not measured: every guest gets money.
    await Promise.all(setup.wristbands.map((w, i) => fleet[i % kioskCount]!.send('topup_cash', w.uid, [], TOPUP_CENTS)))

    const latencies: number[] = []
    let sales = 0
    const start = performance.now()
    const lane = async (kiosk: FleetKiosk, lane: number): Promise<void> => {
      let n = lane
      while (performance.now() - start < durationMs) {
        const uid = setup.wristbands[n++ % wristbandCount]!.uid
        const { result, latencyMs } = await kiosk.send('sale', uid, [{ product: 'beer', qty: 1, unitPrice: BEER_CENTS }], BEER_CENTS)
        if (result.status !== 'accepted') throw new Error(`sale refused: ${result.reason}`)
        latencies.push(latencyMs)
        sales += 1
      }
    }
    await Promise.all(fleet.flatMap((kiosk, k) => Array.from({ length: window }, (_, w) => lane(kiosk, k * window + w))))
    const elapsedMs = performance.now() - start
    const violations = gateway.ledger.checkInvariants()
    for (const v of violations) console.error(`invariant violated: ${v}`)
    return {
      salesPerSec: Math.round((sales * 1000) / elapsedMs),
      sales,
      latencies,
      invariantViolations: violations.length,
      ledgerBalanced: gateway.ledger.sumOfAllBalances() === 0,
    }
  } finally {
    await Promise.all(fleet.map((k) => k.close()))
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The limits of this machine, then signed sales end to end: prints its lines, returns its JSON fields. */
async function endToEndScenario(): Promise<Record<string, unknown>> {
  const verifiesPerSec = measureVerifiesPerSec(1500)
  console.log(`limit: Ed25519 verifies/s, one core, synchronous: ${verifiesPerSec}`)
  const asyncVerifiesPerSec = await measureAsyncVerifiesPerSec(1500)
  console.log(`limit: Ed25519 verifies/s, thread pool: ${asyncVerifiesPerSec}`)
  const roundTripsPerSec = await measureBrokerRoundTripsPerSec(3000, kioskCount * window)
  console.log(`limit: broker QoS 1 request/answer round trips/s (${kioskCount * window} in flight): ${roundTripsPerSec}`)
  const e2e = await endToEnd()
  const latencyMs = {
    p50: percentile(e2e.latencies, 50),
    p99: percentile(e2e.latencies, 99),
    max: percentile(e2e.latencies, 100),
  }
  console.log(
    `end to end: ${e2e.salesPerSec} sales/s (${e2e.sales} sales, ${kioskCount} kiosks x ${window} in flight), ` +
      `latency ms p50 ${latencyMs.p50} p99 ${latencyMs.p99} max ${latencyMs.max}`,
  )
  return {
    e2eSalesPerSec: e2e.salesPerSec,
    latencyMs,
    limits: {
      ed25519VerifiesPerSec: verifiesPerSec,
      ed25519AsyncVerifiesPerSec: asyncVerifiesPerSec,
      brokerQos1RoundTripsPerSec: roundTripsPerSec,
    },
    sales: e2e.sales,
    kiosks: kioskCount,
    inFlight: kioskCount * window,
    ledgerBalanced: e2e.ledgerBalanced,
    invariantViolations: e2e.invariantViolations,
    targetSalesPerSec: 1000,
  }
}

const only = args.only
if (only !== undefined && only !== 'e2e' && only !== 'portal-load') {
  console.error(`--only: e2e or portal-load, not ${only}`)
  process.exit(2)
}
const report: Record<string, unknown> = only === 'portal-load' ? {} : await endToEndScenario()
if (only !== 'e2e') {
  const portalLoad = await runPortalLoad({
    salesPerSec: Number(args['portal-rate']),
    guests: Number(args['portal-guests']),
    kiosks: kioskCount,
    phaseMs: Number(args['portal-seconds']) * 1000,
    pollIntervalMs: Number(args['portal-poll-ms']),
  })
  for (const line of portalLoadReport(portalLoad)) console.log(line)
  report.portalLoad = portalLoad
  // Lost or doubled sales, unbalanced books or a guest shown someone else's data fail the run;
  // rates below the baseline's are this machine's figures and only print FAIL.
  if (portalLoad.checks.some((c) => c.kind === 'correctness' && !c.pass)) process.exitCode = 1
}
console.log(JSON.stringify(report))
