// wristpay-monitor's arguments: where the broker is, as which operator, and
// the operator's token, which never comes from the command line (it would show
// in `ps` and in the shell's history): from WRISTPAY_MONITOR_TOKEN or from a
// file only its owner can read.
import { readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type GatewayConfig } from '../config.js'

export const MONITOR_TOKEN_ENV = 'WRISTPAY_MONITOR_TOKEN'

export const MONITOR_USAGE = `Usage: wristpay-monitor --operator NAME [--url mqtt://HOST:PORT] [--ca-file FILE] [--token-file FILE] [--once [--json] [--wait-ms MS]]

A live view of the fleet from the gateway's MQTT broker: every kiosk worst first,
the latest alerts and the event's totals. It keeps running while the gateway
restarts and shows the gap.

Options:
  --operator NAME    an operator account of the gateway's config (MQTT username operator:NAME)
  --url URL          the broker, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS) (default: the
                     MQTT listener of the gateway's config, else mqtt://127.0.0.1:1883)
  --ca-file FILE     with mqtts://: the CA certificate (PEM) the gateway's certificate must
                     chain to (default: the system's CAs); the host name is checked too
  --config FILE      the gateway's config file to find the broker in (also WRISTPAY_GATEWAY_CONFIG)
  --token-file FILE  a file holding the operator's token, readable by its owner only (chmod 600);
                     without it the token comes from ${MONITOR_TOKEN_ENV}
  --once             print one snapshot and exit
  --json             with --once: print the snapshot as one JSON object
  --wait-ms MS       how long --once waits for the gateway's state (default 5000)
  -h, --help         show this help

Exit codes: 0 done; 1 the monitor failed; 2 wrong arguments, or (--once) no gateway state
arrived within --wait-ms; 3 the broker refused the login or the subscription.
`

export class MonitorUsageError extends Error {
  override name = 'MonitorUsageError'
}

export interface MonitorOptions {
  url: string
  operator: string
  token: string
  once: boolean
  json: boolean
  waitMs: number
  /** PEM: the CA the gateway's certificate must chain to (mqtts:// only). */
  ca?: string
}

/** Where a monitor on this machine reaches the broker of a gateway config: its MQTT listener (mqtts:// with mqtt.tls), loopback for a wildcard address. */
export function gatewayMqttUrl(config: { mqtt: Pick<GatewayConfig['mqtt'], 'host' | 'port' | 'tls'> }): string {
  const host = config.mqtt.host === '0.0.0.0' || config.mqtt.host === '::' ? '127.0.0.1' : config.mqtt.host
  return `${config.mqtt.tls === undefined ? 'mqtt' : 'mqtts'}://${host.includes(':') ? `[${host}]` : host}:${config.mqtt.port}`
}

/** The token of a token file: its first line; refused when others may read the file. */
export function readTokenFile(path: string): string {
  let mode: number
  let text: string
  try {
    mode = statSync(path).mode
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new MonitorUsageError(`cannot read --token-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if ((mode & 0o077) !== 0) throw new MonitorUsageError(`--token-file ${path} may be read by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`)
  const token = text.split(/\r?\n/, 1)[0]!.trim()
  if (token === '') throw new MonitorUsageError(`--token-file ${path} is empty`)
  return token
}

/** The monitor's options from its arguments and environment (without node and the script). Throws MonitorUsageError; 'help' for -h. */
export function parseMonitorArgs(args: readonly string[], env: NodeJS.ProcessEnv): MonitorOptions | 'help' {
  // Said plainly instead of "unknown option", and without repeating what was typed.
  if (args.some((a) => a === '--token' || a.startsWith('--token='))) {
    throw new MonitorUsageError(`the token is never an argument (it would show in ps and the shell's history): set ${MONITOR_TOKEN_ENV} or use --token-file`)
  }
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        operator: { type: 'string' },
        url: { type: 'string' },
        config: { type: 'string' },
        'token-file': { type: 'string' },
        'ca-file': { type: 'string' },
        once: { type: 'boolean' },
        json: { type: 'boolean' },
        'wait-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new MonitorUsageError((err as Error).message)
  }
  if (values.help) return 'help'
  const operator = values.operator
  if (operator === undefined) throw new MonitorUsageError('--operator NAME is required (an operator account of the gateway\'s config)')
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(operator)) throw new MonitorUsageError('--operator must be an operator name (letters, digits, _ . -)')
  if (values.json && !values.once) throw new MonitorUsageError('--json goes with --once')
  if (values['wait-ms'] !== undefined && !values.once) throw new MonitorUsageError('--wait-ms goes with --once')
  let waitMs = 5_000
  if (values['wait-ms'] !== undefined) {
    if (!/^\d{1,7}$/.test(values['wait-ms']) || Number(values['wait-ms']) < 1) throw new MonitorUsageError('--wait-ms must be a number of milliseconds from 1 to 9999999')
    waitMs = Number(values['wait-ms'])
  }
  const url = values.url ?? urlFromConfig(values.config, env)
  if (!/^mqtts?:\/\/[^/\s]+\/?$/.test(url)) throw new MonitorUsageError(`--url must look like mqtt://HOST:PORT, got ${JSON.stringify(url)}`)
  let ca: string | undefined
  if (values['ca-file'] !== undefined) {
    if (!url.startsWith('mqtts://')) throw new MonitorUsageError('--ca-file goes with an mqtts:// URL (TLS); the monitor never falls back to clear text')
    try {
      ca = readFileSync(values['ca-file'], 'utf8')
    } catch (err) {
      throw new MonitorUsageError(`cannot read --ca-file ${values['ca-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  let token: string
  if (values['token-file'] !== undefined) token = readTokenFile(values['token-file'])
  else {
    const fromEnv = env[MONITOR_TOKEN_ENV]?.trim()
    if (!fromEnv) throw new MonitorUsageError(`no token: set ${MONITOR_TOKEN_ENV} or use --token-file FILE (the operator's token from the gateway's config)`)
    token = fromEnv
  }
  return { url, operator, token, once: values.once === true, json: values.json === true, waitMs, ...(ca === undefined ? {} : { ca }) }
}

function urlFromConfig(file: string | undefined, env: NodeJS.ProcessEnv): string {
  try {
    return gatewayMqttUrl(loadConfig({ file, env, overrides: {} }))
  } catch (err) {
    if (err instanceof ConfigError) throw new MonitorUsageError(`cannot find the broker in the gateway's config (${err.message}): give --url`)
    throw err
  }
}
