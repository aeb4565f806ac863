#!/usr/bin/env node
// wristpay-gateway: the gateway daemon's command line. Configuration comes from
// defaults < config file < WRISTPAY_GATEWAY_* environment < these flags.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSystemdService } from '../device-protocol/service-notify.js'
import { createGateway, type Gateway } from './app.js'
import { ConfigError, ENV_VARS, loadConfig, type ConfigLayer, type GatewayConfig } from './config.js'
import { gatewayConfigReference, printableGatewayConfig } from './config-reference.js'
import { createLogger } from './logger.js'
import { PAYOUT_USAGE, runPayoutCommand } from './payouts/payout-command.js'
import { BANK_IMPORT_USAGE, runBankCommand } from './bank/statements/import-command.js'
import { RECONCILE_USAGE, runReconcileCommand } from './payments/reconciliation-command.js'
import { REFUND_RUN_USAGE, runRefundRunCommand } from './payments/refund-run-command.js'
import { KIOSK_REMOTE_COMMAND_USAGE, runKioskRemoteCommand } from './commands/kiosk-command-cli.js'
import { KIOSK_USAGE, runKioskCommand } from './kiosk-command.js'
import { AUDIT_USAGE, runAuditCommand } from './audit/audit-command.js'
import { BACKUP_USAGE, runBackupCommand } from './backup/backup-command.js'
import { ledgerAuditCheck } from './backup/backups.js'
import { isEntryPoint } from './entry-point.js'

export const USAGE = `Usage: wristpay-gateway [options]
       wristpay-gateway bank import FILE [options]
       wristpay-gateway payout create|list|show|approve|cancel|export [RUN] [options]
       wristpay-gateway refund-run create|list|show|approve|cancel|execute [RUN] [options]
       wristpay-gateway reconcile provider [options]
       wristpay-gateway kiosk-command KIOSK lock|unlock|report_state|reload_config [options]
       wristpay-gateway kiosk add|code ID [options]
       wristpay-gateway audit [--db FILE | --store URL] [--json]
       wristpay-gateway backup [options]

The wristpay gateway: MQTT broker (embedded, or an external Mosquitto), ledger (SQLite, or
PostgreSQL with --store) and HTTP API.

Options:
  --config FILE      JSON config file (also WRISTPAY_GATEWAY_CONFIG)
  --data-dir DIR     folder of the ledger database (default data/gateway)
  --event FILE       event set-up to import (required: also WRISTPAY_GATEWAY_EVENT_FILE
                     or "eventFile" in the config file)
  --demo             import the demo festival instead (published tokens and PINs:
                     never in production)
  --mqtt-port PORT   MQTT listener port, 0 picks a free one (default 1883)
  --mqtt-url URL     use an external Mosquitto 2 (dynamic security plugin) instead of
                     the embedded broker (also WRISTPAY_GATEWAY_MQTT_URL); passwords
                     from WRISTPAY_GATEWAY_MQTT_PASSWORD and
                     WRISTPAY_GATEWAY_MQTT_DYNSEC_PASSWORD or 0600 files (mqtt.external)
  --http-port PORT   HTTP listener port, 0 picks a free one (default 8080)
  --store URL        keep the ledger in PostgreSQL (postgres://user@host:port/db, the
                     password in a 0600 passfile) instead of the SQLite file in the
                     data dir (also WRISTPAY_GATEWAY_STORE); gateways may share it
  --print-config     print the effective config (secrets masked) and exit
  --print-config-reference
                     print every setting (Markdown, as CONFIGURATION.md) and exit
  -h, --help         show this help

Environment (every setting is in CONFIGURATION.md, or --print-config-reference):
${environmentHelp()}
Logs are JSON lines (pino) on stdout. SIGINT or SIGTERM stops cleanly.

Commands (to a running gateway):
${BANK_IMPORT_USAGE}${PAYOUT_USAGE}${REFUND_RUN_USAGE}${RECONCILE_USAGE}${KIOSK_REMOTE_COMMAND_USAGE}${KIOSK_USAGE}${BACKUP_USAGE}
Commands on the ledger database (read-only, safe while gateways run):
${AUDIT_USAGE}`

/** The environment variables of ENV_VARS, wrapped: the help cannot miss one. */
function environmentHelp(): string {
  const lines: string[] = []
  let line = ' '
  for (const name of Object.values(ENV_VARS)) {
    if (line.length + name.length + 2 > 80) {
      lines.push(line.trimEnd())
      line = ' '
    }
    line += ` ${name},`
  }
  lines.push(line.replace(/,$/, ''))
  return lines.join('\n')
}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'print-config-reference' }
  | { kind: 'run' | 'print-config'; configFile?: string; overrides: ConfigLayer; demo?: true }

export class UsageError extends Error {
  override name = 'UsageError'
}

function parsePort(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag} must be a port number (0-65535), got ${JSON.stringify(value)}`)
  return Number(value)
}

/** Parses the arguments (without node and the script). Throws UsageError. */
export function parseCli(args: readonly string[]): CliCommand {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        event: { type: 'string' },
        'mqtt-port': { type: 'string' },
        'mqtt-url': { type: 'string' },
        'http-port': { type: 'string' },
        store: { type: 'string' },
        demo: { type: 'boolean' },
        'print-config': { type: 'boolean' },
        'print-config-reference': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) return { kind: 'help' }
  if (values['print-config-reference']) return { kind: 'print-config-reference' }
  if (values.demo && values.event !== undefined) throw new UsageError('--demo and --event exclude each other')
  const overrides: ConfigLayer = {}
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir']
  if (values.event !== undefined) overrides.eventFile = values.event
  const mqttPort = parsePort('--mqtt-port', values['mqtt-port'])
  if (mqttPort !== undefined) overrides.mqtt = { port: mqttPort }
  if (values['mqtt-url'] !== undefined) overrides.mqtt = { ...overrides.mqtt, url: values['mqtt-url'] }
  if (values.store !== undefined) overrides.store = values.store
  const httpPort = parsePort('--http-port', values['http-port'])
  if (httpPort !== undefined) overrides.http = { port: httpPort }
  return { kind: values['print-config'] ? 'print-config' : 'run', configFile: values.config, overrides, ...(values.demo ? { demo: true as const } : {}) }
}

/**
 * The demo festival's set-up, next to this module: gateway/fixtures/ when run
 * from TypeScript, and the same file of the checkout when run from dist/gateway/.
 */
export function demoEventFile(): string {
  const candidates = ['./fixtures/demo-event.json', '../../gateway/fixtures/demo-event.json'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!
}

/**
 * The config the daemon runs with: loaded as the header says, the demo set-up
 * only when asked for, and no start without an event set-up (the demo's was
 * the default once, and a production gateway imported it without a word).
 */
export function configForCommand(command: Extract<CliCommand, { overrides: ConfigLayer }>, env: NodeJS.ProcessEnv): GatewayConfig {
  const overrides = command.demo ? { ...command.overrides, eventFile: demoEventFile() } : command.overrides
  const config = loadConfig({ file: command.configFile, env, overrides })
  if (config.eventFile === undefined && command.kind === 'run') {
    throw new ConfigError(
      'no event set-up: name the event file with --event FILE, WRISTPAY_GATEWAY_EVENT_FILE or "eventFile" in the config file (--demo runs the demo festival, never in production)',
    )
  }
  return config
}

/** Runs the daemon until a signal; resolves with the process exit code. */
export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Subcommands talk to a running gateway; the daemon's own flags stay as they were.
  if (args[0] === 'bank') return runBankCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'payout') return runPayoutCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'refund-run') return runRefundRunCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'kiosk') return runKioskCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'kiosk-command') return runKioskRemoteCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'backup') return runBackupCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text), check: ledgerAuditCheck })
  if (args[0] === 'audit') return runAuditCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  if (args[0] === 'reconcile') return runReconcileCommand(args.slice(1), env, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) })
  let command: CliCommand
  try {
    command = parseCli(args)
  } catch (err) {
    process.stderr.write(`wristpay-gateway: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (command.kind === 'print-config-reference') {
    process.stdout.write(gatewayConfigReference())
    return 0
  }
  let config: GatewayConfig
  try {
    config = configForCommand(command, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  if (command.kind === 'print-config') {
    process.stdout.write(`${JSON.stringify(printableGatewayConfig(config), null, 2)}\n`)
    return 0
  }

  const logger = createLogger({ level: config.logLevel })
  if (command.demo) logger.warn({ eventFile: config.eventFile }, 'demo event set-up: its kiosk tokens and wristband PINs are published; never use --demo for a real event')
  let gateway: Gateway
  try {
    gateway = await createGateway({ config, logger })
    await gateway.start()
  } catch (err) {
    logger.fatal({ err }, 'gateway could not start')
    process.stderr.write(`wristpay-gateway: ${(err as Error).message}\n`)
    return 1
  }
  const mqtt = gateway.mqttAddress!
  const http = gateway.httpAddress!
  logger.info({ mqtt, http }, `listening: ${config.mqtt.tls ? 'mqtts' : 'mqtt'}://${mqtt.host}:${mqtt.port} http://${http.host}:${http.port}`)
  // Under systemd (Type=notify, WatchdogSec=): ready now that broker and HTTP listen; pings only while
  // the broker listens and the ledger database answers, so a hung gateway is restarted.
  const systemdLog = logger.child({ component: 'systemd' })
  const systemd = await createSystemdService({
    env,
    pid: process.pid,
    healthy: () => {
      const health = gateway.health()
      return health.mqtt && health.db
    },
    log: { info: (message) => systemdLog.info(message), warn: (message) => systemdLog.warn(message), error: (message) => systemdLog.error(message) },
    importSdNotify: () => import('sd-notify' as string),
  })
  systemd.ready()

  return new Promise<number>((resolve) => {
    let signalled = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        // A second Ctrl-C means "now": the ledger is safe (every booking is its own SQLite commit).
        logger.warn({ signal }, 'second signal: exiting without a clean stop')
        process.exit(130)
      }
      signalled = true
      logger.info({ signal }, 'stopping')
      systemd.stopping()
      gateway.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'stop failed')
          resolve(1)
        },
      )
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
      // Anything still holding the event loop after a clean stop is a bug; do not hang the service manager.
      setTimeout(() => process.exit(code), 2000).unref()
    },
    (err: unknown) => {
      process.stderr.write(`wristpay-gateway: ${(err as Error)?.stack ?? String(err)}\n`)
      process.exit(1)
    },
  )
}
