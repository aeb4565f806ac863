// `wristpay-gateway kiosk add|code`: an operator makes a kiosk, or asks for a
// new registration code for one (a replaced Pi), through the running
// gateway's admin API, and gets the code, when it expires, the command to run
// on the Pi and that command as a QR code in the terminal (to scan with a
// phone and paste, or to read off). The admin token comes from the gateway's
// config or WRISTPAY_GATEWAY_ADMIN_TOKEN, as for the other commands.
import { parseArgs } from 'node:util'
import QRCode from 'qrcode'
import { askGateway, gatewayBaseUrl, parseOrUsage, type OperatorCommandIo, type OperatorTarget } from './admin-command.js'
import { ConfigError, loadConfig } from './config.js'
import { jsonHttpTransport } from './json-http-client.js'

export const KIOSK_USAGE = `  kiosk add ID --booth BOOTH (--profile PROFILE | [--sale] [--topup])
  kiosk code ID
                   [--gateway-url URL] [--config FILE] [--url URL]
      Kiosks enrolled by registration code: add makes a kiosk that is not in the
      event set-up (a reload does not retire it), code issues a new one-time code
      for a kiosk (a replaced Pi; an earlier unspent code stops working). Prints
      the code, when it expires, the command to run on the Pi (wristpay-kiosk
      enroll) and that command as a QR code. --gateway-url is the gateway's
      address as the Pi reaches it (default enrollment.gatewayUrl, else --url).
`

export class KioskUsageError extends Error {
  override name = 'KioskUsageError'
}

export interface KioskCommand {
  action: 'add' | 'code'
  kioskId: string
  booth?: string
  profile?: string
  sale?: boolean
  topup?: boolean
  gatewayUrl?: string
  configFile?: string
  url?: string
}

export function parseKioskArgs(args: readonly string[]): KioskCommand {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: {
        booth: { type: 'string' },
        profile: { type: 'string' },
        sale: { type: 'boolean' },
        topup: { type: 'boolean' },
        'gateway-url': { type: 'string' },
        config: { type: 'string' },
        url: { type: 'string' },
      },
    })
  } catch (err) {
    throw new KioskUsageError((err as Error).message)
  }
  const [action, kioskId, ...rest] = parsed.positionals
  if (action !== 'add' && action !== 'code') throw new KioskUsageError('the action must be add or code')
  if (kioskId === undefined || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(kioskId)) throw new KioskUsageError(`${action} needs the kiosk's id (a-z, 0-9 and -, e.g. bar-2)`)
  if (rest.length > 0) throw new KioskUsageError('too many arguments')
  const v = parsed.values
  const command: KioskCommand = { action, kioskId }
  if (action === 'add') {
    if (v.booth === undefined) throw new KioskUsageError('add needs --booth')
    if (v.profile === undefined && !v.sale && !v.topup) throw new KioskUsageError('add needs --profile, or --sale and/or --topup')
    command.booth = v.booth
    if (v.profile !== undefined) command.profile = v.profile
    if (v.sale) command.sale = true
    if (v.topup) command.topup = true
  } else if (v.booth !== undefined || v.profile !== undefined || v.sale || v.topup) {
    throw new KioskUsageError('--booth, --profile, --sale and --topup belong to add')
  }
  if (v['gateway-url'] !== undefined) command.gatewayUrl = v['gateway-url']
  if (v.config !== undefined) command.configFile = v.config
  if (v.url !== undefined) command.url = v.url
  return command
}

export interface KioskCommandIo extends Omit<OperatorCommandIo, 'transport'> {
  /** The admin API: a real HTTP client by default; tests may pass their own. */
  transport?: (baseUrl: string, adminToken: string) => OperatorTarget['transport']
}

/** The running gateway and its admin token from the config; exit code 2 after saying what is missing. */
function adminTarget(command: KioskCommand, env: NodeJS.ProcessEnv, io: KioskCommandIo): OperatorTarget | 2 {
  let baseUrl: string
  let adminToken: string
  try {
    const config = loadConfig({ file: command.configFile, env, overrides: {} })
    if (config.adminToken === undefined) throw new ConfigError('no admin token: set "adminToken" in the config file or WRISTPAY_GATEWAY_ADMIN_TOKEN')
    adminToken = config.adminToken
    baseUrl = command.url ?? gatewayBaseUrl(config)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  const transport = io.transport?.(baseUrl, adminToken) ?? jsonHttpTransport(baseUrl, { authorization: `Bearer ${adminToken}` }, 60_000)
  return { baseUrl, transport: (request) => transport({ ...request, path: `/admin${request.path}` }) }
}

interface CodeJson {
  kioskId: string
  booth: string
  code: string
  expiresAt: number
  enrollCommand: string
}

/** Runs `kiosk ...` (the arguments after it); resolves with the exit code: 0 done, 1 refused or unreachable, 2 usage or config. */
export async function runKioskCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: KioskCommandIo): Promise<number> {
  const command = parseOrUsage(() => parseKioskArgs(args), KioskUsageError, KIOSK_USAGE, io)
  if (command === 2) return 2
  const target = adminTarget(command, env, io)
  if (target === 2) return 2
  // The Pi reaches the gateway at the address the config names for it; a command on this machine uses loopback.
  const gatewayUrl = command.gatewayUrl ?? (command.url === undefined ? undefined : command.url)
  const body = {
    ...(command.action === 'add'
      ? { id: command.kioskId, booth: command.booth, ...(command.profile === undefined ? {} : { profile: command.profile }), saleAllowed: command.sale === true, topupAllowed: command.topup === true }
      : {}),
    ...(gatewayUrl === undefined ? {} : { gatewayUrl }),
  }
  const answer = await askGateway(target, { method: 'POST', path: command.action === 'add' ? '/kiosks' : `/kiosks/${command.kioskId}/registration-code`, body }, io)
  if (answer === 1) return 1
  const issued = answer.json as CodeJson
  const qr = await QRCode.toString(issued.enrollCommand, { type: 'terminal', small: true, errorCorrectionLevel: 'M' })
  io.stdout(
    [
      command.action === 'add' ? `kiosk ${issued.kioskId} made (booth ${issued.booth})` : `new registration code for kiosk ${issued.kioskId} (booth ${issued.booth})`,
      `registration code: ${issued.code}`,
      `works once, until ${new Date(issued.expiresAt).toISOString()}`,
      'on the Pi, run:',
      `  ${issued.enrollCommand}`,
      '',
      qr,
    ].join('\n'),
  )
  // Loopback is this machine: the Pi would not find the gateway there.
  if (/--gateway https?:\/\/(127\.|localhost|\[::1\])/.test(issued.enrollCommand))
    io.stderr('wristpay-gateway: the command names a loopback address, which the Pi cannot reach: pass --gateway-url http://ADDRESS:PORT (or set enrollment.gatewayUrl) and replace it in the command\n')
  return 0
}
