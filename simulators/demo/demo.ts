// `npm start`: the demo. A gateway (embedded broker, ledger, HTTP) and real
// kiosk daemons whose serial NFC readers are simulated in-process (serialport's
// mock binding, speaking the reader firmware protocol), with simulated staff
// and guests (simulators/demo/demo-tills.ts): sales with cup deposits at the bar and
// the food stand, cash shifts with top-ups and cash-outs at the top-up station,
// ticket sales at the entrance cash desk. A status line every second; Ctrl-C
// stops cleanly (the cash shifts are closed first); --duration stops by
// itself. Either way the last line is one JSON summary.
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import pino, { type Logger } from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { PORTAL_PAGE_PREFIX, slugOfEventName } from '../../gateway/apis.js'
import { createGateway, type Gateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG } from '../../gateway/config.js'
import { demoEvent, demoKiosks } from './demo-event.js'
import type { TillRuntime } from './demo-tills.js'
import { runDemoTills, startDemoKiosks, summariseDemo, type DemoHooks } from './demo-fleet.js'
import { startPaymentSimulators } from './payment-sims.js'
import { lazyPcscStack, parseReaderKinds, type SimulatedReaderKind } from './demo-readers.js'
import { demoPayoutsSound, runDemoPayouts, type BankRoundTripSummary, type DemoPayouts } from './demo-payouts.js'
import { demoProviderSound, runDemoProvider, type ProviderReconciliationSummary } from './demo-provider.js'
import { runAsProgram } from '../script-main.js'

const USAGE = `usage: npm start -- [options]

Runs a gateway and simulated kiosks selling to simulated guests.

  --duration SECONDS  stop by itself after SECONDS and print a JSON summary (default: run until Ctrl-C)
  --kiosks N          number of kiosks (default 4: a bar, a food stand, a top-up station, a cash desk)
  --guests N          number of guests with wristbands (default 40)
  --readers LIST      reader types, given to the kiosks in turn: serial, ble, pcsc (default serial;
                      pcsc needs pcscd and vsmartcard-vpcd, and is for one kiosk)
  --mqtt-port PORT    MQTT broker port on 127.0.0.1 (default 1883; 0 picks a free one)
  --mqtt-ws-port PORT MQTT over WebSocket for the operator console, on 127.0.0.1 (default 8083; 0 picks a free one)
  --http-port PORT    HTTP port on 127.0.0.1 (default 8080; 0 picks a free one)
  --data-dir DIR      where the ledger, kiosk outboxes and the log go (default data/demo; wiped at start)
  --help              this text`

interface DemoOptions {
  durationS?: number
  kiosks: number
  readers: SimulatedReaderKind[]
  guests: number
  mqttPort: number
  /** The broker's WebSocket listener (the operator console); a free port when absent. */
  mqttWebSocketPort?: number
  httpPort: number
  dataDir: string
}

function parseOptions(argv: string[]): DemoOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      kiosks: { type: 'string', default: '4' },
      guests: { type: 'string', default: '40' },
      readers: { type: 'string', default: 'serial' },
      'mqtt-port': { type: 'string', default: '1883' },
      'mqtt-ws-port': { type: 'string', default: '8083' },
      'http-port': { type: 'string', default: '8080' },
      'data-dir': { type: 'string', default: 'data/demo' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) return 'help'
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    return n
  }
  return {
    durationS: values.duration === undefined ? undefined : int('duration', values.duration, 1, 86_400),
    kiosks: int('kiosks', values.kiosks, 1, 50),
    readers: parseReaderKinds(values.readers),
    guests: int('guests', values.guests, 1, 5_000),
    mqttPort: int('mqtt-port', values['mqtt-port'], 0, 65_535),
    mqttWebSocketPort: int('mqtt-ws-port', values['mqtt-ws-port'], 0, 65_535),
    httpPort: int('http-port', values['http-port'], 0, 65_535),
    dataDir: resolve(values['data-dir']),
  }
}

export type { DemoHooks }

export async function runDemo(options: DemoOptions, out: (line: string) => void = console.log, hooks: DemoHooks = {}): Promise<Record<string, unknown>> {
  rmSync(options.dataDir, { recursive: true, force: true })
  mkdirSync(options.dataDir, { recursive: true })
  // Logs go to a file: the terminal shows the status line.
  const logFile = join(options.dataDir, 'demo.log')
  const logger: Logger = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: false, mkdir: true }))

  const specs = demoKiosks(options.kiosks)
  const { setup, supervisor } = demoEvent(specs, options.guests)
  const eventFile = join(options.dataDir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(setup, null, 2), { mode: 0o600 })

  // The finance team: two operators, so that a payout run has four eyes (made fresh for every run, like the PINs).
  const adminToken = randomBytes(24).toString('base64url')
  const [creator, approver] = ['ops-anna', 'ops-ben'].map((name) => ({ name, token: randomBytes(24).toString('base64url') })) as [{ name: string; token: string }, { name: string; token: string }]
  // Whoever watches the fleet (wristpay-monitor, the console): a read-only operator account.
  const watcher = { name: 'ops-watch', token: randomBytes(24).toString('base64url') }
  // Whoever presses the console's buttons (block a wristband, lock a kiosk, enroll a kiosk): an admin operator account.
  const consoleAdmin = { name: 'ops-admin', token: randomBytes(24).toString('base64url'), roles: ['admin' as const] }

  // Online payments go to simulated providers on loopback; the portal tops up through the payments provider
  // simulator (stancer), which also refunds to the card, raises disputes and pays out for the card side below.
  const paymentSims = await startPaymentSimulators({ defaultProvider: 'stancer' })
  let gateway: Gateway
  try {
    gateway = await createGateway({
      config: {
        ...DEFAULT_CONFIG,
        mqtt: { host: '127.0.0.1', port: options.mqttPort, websocket: { host: '127.0.0.1', port: options.mqttWebSocketPort ?? 0 } },
        http: { host: '127.0.0.1', port: options.httpPort },
        dataDir: join(options.dataDir, 'gateway'),
        eventFile,
        adminToken,
        operators: [creator, approver, watcher, consoleAdmin],
        portal: { ...DEFAULT_CONFIG.portal, testModeMessage: 'Demo: payments go to a simulated provider; no real money moves.', salesTax: { name: 'VAT', rateBasisPoints: 1900 } },
        payments: { ...DEFAULT_CONFIG.payments, ...paymentSims.payments },
      },
      logger: logger.child({ service: 'gateway' }),
      clock: systemClock,
    })
  } catch (err) {
    await paymentSims.close()
    throw err
  }
  const runtimes: TillRuntime[] = []
  const closers: Array<() => Promise<void>> = []
  const pcscStack = lazyPcscStack()
  try {
    await gateway.start()
    const httpBase = `http://127.0.0.1:${gateway.httpAddress!.port}`
    paymentSims.connect(httpBase)
    const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`

    await startDemoKiosks({
      specs,
      readers: options.readers,
      mqttUrl,
      dataDir: options.dataDir,
      logger,
      pcsc: pcscStack.get,
      enroll: (id, key) => gateway.ledger.registry.enrollKiosk(id, key),
      runtimes,
      closers,
    })

    out(`wristpay demo: gateway mqtt://127.0.0.1:${gateway.mqttAddress!.port} ${httpBase}/healthz`)
    out(`guest portal: ${httpBase}${PORTAL_PAGE_PREFIX}/   API docs: ${httpBase}/docs`)
    // PINs go to the terminal only, never to the log file.
    out(`demo PINs: ${setup.wristbands.slice(0, 3).map((w) => w.pin).join('  ')} (online top-ups pay at a simulated provider)`)
    out(`kiosk screens: ${runtimes.map((r) => `http://127.0.0.1:${r.daemon.apiAddress()?.port}/ui/`).join('  ')}; supervisor PIN ${supervisor.pin}`)
    out(`kiosks: ${runtimes.map((r) => `${r.spec.id} (${r.simulatedReader.kind} reader)`).join(', ')}; ${setup.wristbands.length} guests; log: ${logFile}`)
    out(`operator console: ${httpBase}/console/`)
    // The admin's token, like the monitor's, goes to the terminal only, never to the log file.
    out(`console login: operator ${consoleAdmin.name} token ${consoleAdmin.token} (admin: may act and enroll kiosks; ${watcher.name} only reads)`)
    // The token goes by environment variable, never as an argument (ps would show it); the terminal only, like the PINs.
    out(`fleet monitor: WRISTPAY_MONITOR_TOKEN=${watcher.token} npm run --silent monitor -- --url ${mqttUrl} --operator ${watcher.name}`)
    out(options.durationS ? `running for ${options.durationS} s` : 'press Ctrl-C to stop')

    // Guests with a wristband from the pre-sale, and blank wristbands for those who buy a ticket at the gate.
    const tills = await runDemoTills({
      runtimes,
      wristbandUids: setup.wristbands.map((w) => w.uid),
      freshWristbands: Math.ceil(options.guests / 2),
      durationS: options.durationS,
      ledger: gateway.ledger,
      logger,
      out,
      hooks,
    })
    const summary = summariseDemo(gateway.ledger, runtimes, tills)

    // After the event: guests who registered a bank account are paid back, and the bank's statement comes in.
    out('paying guests back: a payout run, the bank files, the bank statement ...')
    const bankDir = join(options.dataDir, 'bank')
    mkdirSync(bankDir, { recursive: true, mode: 0o700 })
    const payouts = await runDemoPayouts({
      baseUrl: httpBase,
      adminToken,
      creator,
      approver,
      organizer: slugOfEventName(setup.event.name),
      dir: bankDir,
      wristbands: setup.wristbands.map((w) => ({ uid: w.uid, pin: w.pin! })),
      ledger: gateway.ledger,
      currency: setup.event.currency,
    })
    for (const line of payouts.lines) out(line)

    // The card side: online top-ups through the provider, a refund to the card, one refused, a dispute; the provider pays out and is reconciled.
    out('card side: online top-ups, refunds to the card, a dispute, the provider\'s payout reconciled ...')
    const card = await runDemoProvider({
      baseUrl: httpBase,
      adminToken,
      sim: paymentSims.provider,
      wristbands: setup.wristbands.map((w) => ({ uid: w.uid, pin: w.pin! })),
      ledger: gateway.ledger,
      currency: setup.event.currency,
    })
    out(card.line)
    // The summary ends with the payout run, the bank statement's round trip and the provider's payouts reconciled.
    return {
      ...summary,
      payoutRun: payouts.payoutRun,
      ...(payouts.bankRoundTrip ? { bankRoundTrip: payouts.bankRoundTrip } : {}),
      providerReconciliation: card.providerReconciliation,
    }
  } finally {
    for (const r of runtimes) await r.daemon.stop().catch(() => undefined)
    await gateway.stop()
    await paymentSims.close()
    for (const close of closers) await close().catch(() => undefined)
    await pcscStack.stop()
    logger.flush()
  }
}

// Run only as a program, not when a test imports runDemo.
runAsProgram(
  {
    name: 'demo',
    usage: USAGE,
    parse: parseOptions,
    async run(options) {
      const summary = await runDemo(options)
      console.log(JSON.stringify(summary))
      const payoutsSound = demoPayoutsSound(summary.payoutRun as DemoPayouts['payoutRun'], summary.bankRoundTrip as BankRoundTripSummary | undefined)
      const cardSideSound = demoProviderSound(summary.providerReconciliation as ProviderReconciliationSummary | { skipped: string })
      return summary.lost === 0 && summary.duplicates === 0 && summary.ledgerBalanced && payoutsSound && cardSideSound ? 0 : 1
    },
  },
  import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('simulators/demo/demo.ts') === true,
)
