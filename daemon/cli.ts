// The kiosk daemon's command line (bin.ts runs it; tests call it directly).
import { userInfo } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { systemClock } from '../device-protocol/index.js'
import { createSystemdService } from '../device-protocol/service-notify.js'
import { ConfigError, defaultDataDir, loadConfig, redactConfig, type KioskConfigFile } from './config.js'
import { InsecureKeyFileError, KeyFileError, loadOrCreateKeys } from './keys.js'
import { SERVICE_DATA_DIR, SERVICE_USER, keyLocation, keyLocationNotice } from './key-location.js'
import { createKioskDaemon } from './app.js'
import { runEnrollCommand } from './enroll.js'
import { kioskConfigReference, printableKioskConfig } from './config-reference.js'
import { requirePackage } from './require-package.js'

const { pino } = requirePackage('pino') as typeof import('pino')

export const USAGE = `Usage: wristpay-kiosk [options]
       wristpay-kiosk enroll --gateway URL --code CODE [--data-dir DIR]

Runs a wristpay kiosk: reads wristbands, signs transactions, keeps them in a
durable outbox and sends them to the gateway over MQTT.

Options:
  --config <file>       JSON config file (or $WRISTPAY_KIOSK_CONFIG)
  --kiosk-id <id>       kiosk id, e.g. bar-1 ($WRISTPAY_KIOSK_ID)
  --data-dir <dir>      key, outbox and config (default ./data/kiosk-{id}, $WRISTPAY_DATA_DIR;
                        the systemd unit sets ${SERVICE_DATA_DIR})
  --mqtt-url <url>      gateway broker (default mqtt://127.0.0.1:1883, $WRISTPAY_MQTT_URL)
  --reader <spec>       serial:/dev/ttyUSB0@115200 (default), pcsc[:NAME], ble:AA:BB:CC:DD:EE:FF[,...] ($WRISTPAY_READER)
  --terminal <spec>     card terminal: zvt:/dev/ttyUSB1@9600 or none (default) ($WRISTPAY_TERMINAL)
  --api-port <port>     local HTTP API on 127.0.0.1 (default 8090, 0 = any free port, $WRISTPAY_API_PORT)
  --print-public-key    create the key pair if needed, print the public key (base64url) for enrollment, exit.
                        Without a data folder set, as root or user ${SERVICE_USER} it uses the service's
                        (${SERVICE_DATA_DIR}); it says on stderr which key file it used
  --print-config        print the effective config (token and terminal password masked), exit
  --print-config-reference
                        print every setting (Markdown, as CONFIGURATION.md), exit
  --help                this text

enroll spends a registration code from the operator: it sends this kiosk's public
key to the gateway and stores the MQTT credentials it gets in enrollment.json in
the data folder (0600); the daemon reads them from there (wristpay-kiosk enroll --help).

The MQTT token comes from $WRISTPAY_KIOSK_TOKEN or "token" in the config file.
With an mqtts:// URL the gateway's certificate must chain to $WRISTPAY_MQTT_CA_FILE
or "caFile" (a PEM file; the system's CAs without) and name the URL's host.
Blocklists must be signed by the gateway key in $WRISTPAY_GATEWAY_KEY or "gatewayKey"
(base64url); without one the kiosk pins the first key the gateway's config offers.

The kiosk's Ed25519 key is kiosk-ed25519.pem in the data folder (file 0600,
folder 0700). A key file or folder that group or others can read is refused at
start; "repairKeyPermissions": true in the config file tightens them instead,
with a warning (the key may have leaked: consider a new key and re-enrolling).
`

export interface CliOptions {
  help: boolean
  printPublicKey: boolean
  printConfig?: boolean
  printConfigReference?: boolean
  configFile?: string
  overrides: KioskConfigFile
}

/** Parses argv (without node and script); throws a TypeError with a readable message on bad flags. */
export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      'kiosk-id': { type: 'string' },
      'data-dir': { type: 'string' },
      'mqtt-url': { type: 'string' },
      reader: { type: 'string' },
      terminal: { type: 'string' },
      'api-port': { type: 'string' },
      'print-public-key': { type: 'boolean', default: false },
      'print-config': { type: 'boolean', default: false },
      'print-config-reference': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const overrides: KioskConfigFile = {}
  if (values['kiosk-id'] !== undefined) overrides.kioskId = values['kiosk-id']
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir']
  if (values['mqtt-url'] !== undefined) overrides.mqttUrl = values['mqtt-url']
  if (values.reader !== undefined) overrides.reader = values.reader
  if (values.terminal !== undefined) overrides.terminal = values.terminal
  if (values['api-port'] !== undefined) {
    if (!/^\d{1,5}$/.test(values['api-port'])) throw new ConfigError(`--api-port must be a port number, got ${JSON.stringify(values['api-port'].slice(0, 20))}`)
    overrides.apiPort = Number(values['api-port'])
  }
  const cli: CliOptions = { help: values.help === true, printPublicKey: values['print-public-key'] === true, overrides }
  if (values.config !== undefined) cli.configFile = values.config
  if (values['print-config']) cli.printConfig = true
  if (values['print-config-reference']) cli.printConfigReference = true
  return cli
}

/** What main() reads from its process; tests pass their own. */
export interface CliDeps {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
  env: NodeJS.ProcessEnv
  cwd: string
  uid: number
  userName: string | undefined
  /** The service's data folder (SERVICE_DATA_DIR). */
  serviceDataDir: string
}

function processDeps(): CliDeps {
  let userName: string | undefined
  try {
    userName = userInfo().username
  } catch {
    userName = undefined
  }
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), uid: process.getuid?.() ?? -1, userName, serviceDataDir: SERVICE_DATA_DIR }
}

/** --print-public-key: the key on stdout (for scripts), which file it is and whether the service uses it on stderr. */
function printPublicKey(config: ReturnType<typeof loadConfig>, deps: CliDeps): number {
  const location = keyLocation({
    configuredDataDir: config.dataDir,
    explicit: config.dataDir !== defaultDataDir(config.kioskId),
    uid: deps.uid,
    userName: deps.userName,
    serviceDataDir: deps.serviceDataDir,
    serviceUser: SERVICE_USER,
  })
  const dataDir = resolve(deps.cwd, location.dataDir)
  let keys: ReturnType<typeof loadOrCreateKeys>
  try {
    keys = loadOrCreateKeys({ dataDir, onInsecure: config.repairKeyPermissions ? 'repair' : 'refuse' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EACCES' && code !== 'EPERM') throw err
    deps.stderr.write(`wristpay-kiosk: cannot use the data folder ${dataDir} (${code}): run as root or as the folder's owner (sudo -u ${SERVICE_USER} wristpay-kiosk ...)\n`)
    return 2
  }
  deps.stdout.write(`${keys.publicKeyBase64Url}\n`)
  deps.stderr.write(keyLocationNotice({ kioskId: config.kioskId, location, keyFile: keys.path, created: keys.created, serviceDataDir: deps.serviceDataDir }))
  return 0
}

/** Runs the daemon until SIGINT/SIGTERM; resolves with the process exit code. */
export async function main(argv: string[], overrides: Partial<CliDeps> = {}): Promise<number> {
  const deps: CliDeps = { ...processDeps(), ...overrides }
  if (argv[0] === 'enroll') return runEnrollCommand(argv.slice(1), deps)
  let cli: CliOptions
  try {
    cli = parseCli(argv)
  } catch (err) {
    deps.stderr.write(`wristpay-kiosk: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (cli.help) {
    deps.stdout.write(USAGE)
    return 0
  }
  if (cli.printConfigReference) {
    deps.stdout.write(kioskConfigReference())
    return 0
  }
  const logger = pino({ name: 'wristpay-kiosk', level: process.env.LOG_LEVEL ?? 'info' })
  try {
    const loadOptions = cli.configFile === undefined ? { overrides: cli.overrides, env: deps.env } : { overrides: cli.overrides, file: cli.configFile, env: deps.env }
    const config = loadConfig(loadOptions)
    if (cli.printPublicKey) return printPublicKey(config, deps)
    if (cli.printConfig) {
      deps.stdout.write(`${JSON.stringify(printableKioskConfig(config), null, 2)}\n`)
      return 0
    }
    logger.info({ config: redactConfig(config) }, 'starting')
    const daemon = await createKioskDaemon({ config, logger, clock: systemClock })
    await daemon.start()
    // Under systemd (Type=notify, WatchdogSec=): ready once the link is started and the local API
    // listens (not when the gateway answers: a kiosk sells offline too); pings only while the local
    // API is up and the outbox database answers, so a hung kiosk is restarted.
    const systemdLog = logger.child({ module: 'systemd' })
    const systemd = await createSystemdService({
      env: deps.env,
      pid: process.pid,
      healthy: () => {
        if (daemon.apiAddress() === undefined) return false
        daemon.outbox.depth()
        return true
      },
      log: { info: (message) => systemdLog.info(message), warn: (message) => systemdLog.warn(message), error: (message) => systemdLog.error(message) },
      importSdNotify: () => import('sd-notify' as string),
    })
    systemd.ready()
    await new Promise<void>((resolve) => {
      let signals = 0
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1
        if (signals > 1) {
          logger.warn({ signal }, 'second signal: exiting now')
          process.exit(1)
        }
        logger.info({ signal }, 'stopping')
        systemd.stopping()
        daemon.stop().then(resolve, (err: Error) => {
          logger.error({ err: err.message }, 'stop failed')
          resolve()
        })
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
    })
    return 0
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InsecureKeyFileError || err instanceof KeyFileError) {
      deps.stderr.write(`wristpay-kiosk: ${err.message}\n`)
      return 2
    }
    logger.fatal({ err }, 'kiosk daemon failed')
    return 1
  }
}
