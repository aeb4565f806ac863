// `wristpay-kiosk enroll --gateway URL --code CODE`: the Pi's side of
// enrollment by registration code. It makes the kiosk's key pair if the data
// folder has none (a replaced Pi gets a new one), sends the public key with
// the code to the gateway's POST /enroll, and stores what comes back (kiosk
// id, broker URL, MQTT token, gateway key) in the data folder's
// enrollment.json, 0600, where the daemon reads it at start (config.ts). It
// says what it did, never the token.
import { chownSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createHash } from 'node:crypto'
import { KeyFileError, InsecureKeyFileError, loadOrCreateKeys } from './keys.js'
import { writeEnrollmentFile } from './enrollment-file.js'
import { SERVICE_USER } from './key-location.js'
import type { CliDeps } from './cli.js'

export const ENROLL_USAGE = `Usage: wristpay-kiosk enroll --gateway URL --code CODE [--data-dir DIR]

Enrolls this kiosk with a one-time registration code from the operator
(POST /admin/kiosks or wristpay-gateway kiosk add|code): creates the kiosk's
key pair if the data folder has none, sends its public key with the code to
the gateway, and stores the MQTT credentials it gets (kiosk id, broker URL,
token) in enrollment.json in the data folder (0600). The daemon then starts
without more settings.

Options:
  --gateway URL     the gateway's HTTP address, e.g. http://10.0.0.1:8080
  --code CODE       the registration code (ABCD-EFGH-JKLM-NPQR; any case, hyphens optional)
  --data-dir DIR    the kiosk's data folder ($WRISTPAY_DATA_DIR); as root or user ${SERVICE_USER}
                    the service's by default
`

/** How long the gateway may take to answer. */
const ENROLL_TIMEOUT_MS = 30_000

class EnrollUsageError extends Error {}

interface EnrollArgs {
  help?: true
  gateway: string
  code: string
  dataDir?: string
}

function parseEnrollArgs(argv: readonly string[]): EnrollArgs {
  let values
  try {
    ;({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { gateway: { type: 'string' }, code: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }))
  } catch (err) {
    throw new EnrollUsageError((err as Error).message)
  }
  if (values.help) return { help: true, gateway: '', code: '' }
  if (values.gateway === undefined || !/^https?:\/\/[^\s/]+/.test(values.gateway)) throw new EnrollUsageError('--gateway must be the gateway\'s http:// or https:// address')
  if (values.code === undefined || values.code.trim() === '') throw new EnrollUsageError('--code is required: the registration code the operator gave you')
  return { gateway: values.gateway.replace(/\/+$/, ''), code: values.code, ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }) }
}

/** The data folder: the flag, $WRISTPAY_DATA_DIR, or the service's for root and its user; anyone else must name one (the kiosk id, and with it the default folder, is not known yet). */
function enrollDataDir(args: EnrollArgs, deps: CliDeps): string | undefined {
  const named = args.dataDir ?? (deps.env.WRISTPAY_DATA_DIR || undefined)
  if (named !== undefined) return resolve(deps.cwd, named)
  if (deps.uid === 0 || deps.userName === SERVICE_USER) return deps.serviceDataDir
  return undefined
}

interface EnrollAnswer {
  kioskId: string
  booth: string
  mqtt: { url?: string; username: string; token: string }
  gatewayKey?: string
}

function isEnrollAnswer(value: unknown): value is EnrollAnswer {
  const v = value as EnrollAnswer
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.kioskId === 'string' &&
    /^[a-z0-9][a-z0-9-]{0,31}$/.test(v.kioskId) &&
    typeof v.booth === 'string' &&
    typeof v.mqtt === 'object' &&
    v.mqtt !== null &&
    typeof v.mqtt.token === 'string' &&
    v.mqtt.username === v.kioskId &&
    (v.mqtt.url === undefined || /^(mqtts?|wss?):\/\/\S+$/.test(v.mqtt.url)) &&
    (v.gatewayKey === undefined || /^[A-Za-z0-9_-]{43}$/.test(v.gatewayKey))
  )
}

/** Files made by root in a folder another user owns (the service's) go to that user, or the service could not read them. */
function giveToFolderOwner(dataDir: string, paths: string[], deps: CliDeps): void {
  if (deps.uid !== 0) return
  const owner = statSync(dataDir)
  if (owner.uid === 0) return
  for (const path of paths) chownSync(path, owner.uid, owner.gid)
}

/** Runs `wristpay-kiosk enroll ...`; resolves with the exit code (0 enrolled, 1 refused or unreachable, 2 usage or local trouble). */
export async function runEnrollCommand(argv: readonly string[], deps: CliDeps): Promise<number> {
  let args: EnrollArgs
  try {
    args = parseEnrollArgs(argv)
  } catch (err) {
    if (!(err instanceof EnrollUsageError)) throw err
    deps.stderr.write(`wristpay-kiosk enroll: ${err.message}\n\n${ENROLL_USAGE}`)
    return 2
  }
  if (args.help) {
    deps.stdout.write(ENROLL_USAGE)
    return 0
  }
  const dataDir = enrollDataDir(args, deps)
  if (dataDir === undefined) {
    deps.stderr.write(`wristpay-kiosk enroll: name the kiosk's data folder with --data-dir (or WRISTPAY_DATA_DIR), or run as root or as user ${SERVICE_USER} to use the service's (${deps.serviceDataDir})\n`)
    return 2
  }

  let keys: ReturnType<typeof loadOrCreateKeys>
  try {
    keys = loadOrCreateKeys({ dataDir })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (err instanceof KeyFileError || err instanceof InsecureKeyFileError) {
      deps.stderr.write(`wristpay-kiosk enroll: ${err.message}\n`)
      return 2
    }
    if (code === 'EACCES' || code === 'EPERM') {
      deps.stderr.write(`wristpay-kiosk enroll: cannot use the data folder ${dataDir} (${code}): run as root or as the folder's owner (sudo -u ${SERVICE_USER} wristpay-kiosk enroll ...)\n`)
      return 2
    }
    throw err
  }

  let status: number
  let body: unknown
  try {
    const response = await fetch(`${args.gateway}/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: args.code, publicKey: keys.publicKeyBase64Url }),
      signal: AbortSignal.timeout(ENROLL_TIMEOUT_MS),
    })
    status = response.status
    body = await response.json().catch(() => undefined)
  } catch (err) {
    deps.stderr.write(`wristpay-kiosk enroll: the gateway at ${args.gateway} cannot be reached: ${(err as Error).message}\n`)
    return 1
  }
  if (status !== 200) {
    const refusal = body as { type?: string; message?: string } | undefined
    deps.stderr.write(`wristpay-kiosk enroll: the gateway refused (${status} ${refusal?.type ?? 'error'}): ${refusal?.message ?? ''}\nNothing was stored${keys.created ? ` (the new key pair stays in ${keys.path} for the next try)` : ''}.\n`)
    return 1
  }
  if (!isEnrollAnswer(body)) {
    deps.stderr.write(`wristpay-kiosk enroll: the gateway at ${args.gateway} answered something that is not an enrollment; nothing was stored\n`)
    return 1
  }

  // Without a URL from the gateway: its broker on the host we reached it at, on MQTT's port.
  const mqttUrl = body.mqtt.url ?? `mqtt://${new URL(args.gateway).host.replace(/:\d+$/, '')}:1883`
  const path = writeEnrollmentFile(dataDir, {
    kioskId: body.kioskId,
    mqttUrl,
    token: body.mqtt.token,
    ...(body.gatewayKey === undefined ? {} : { gatewayKey: body.gatewayKey }),
    gateway: args.gateway,
    enrolledAt: Date.now(),
  })
  giveToFolderOwner(dataDir, keys.created ? [path, keys.path] : [path], deps)

  const fingerprint = `sha256:${createHash('sha256').update(keys.publicKeyBase64Url, 'utf8').digest('hex').slice(0, 16)}`
  deps.stdout.write(
    [
      `Enrolled as kiosk ${body.kioskId} (booth ${body.booth}) at ${args.gateway}.`,
      `Key: ${keys.path} (${keys.created ? 'created now' : 'the existing key'}), public key ${keys.publicKeyBase64Url} (${fingerprint}).`,
      `MQTT credentials for ${mqttUrl} stored in ${path} (mode 0600; the token is not shown).`,
      `Start the kiosk: systemctl restart wristpay-kiosk, or wristpay-kiosk --data-dir ${dataDir} --reader ...`,
      '',
    ].join('\n'),
  )
  if (deps.env.WRISTPAY_KIOSK_TOKEN) deps.stderr.write('wristpay-kiosk enroll: note: WRISTPAY_KIOSK_TOKEN is set in this environment; where the daemon runs with it, it wins over the enrolled token. Remove it (and "token" from the config file).\n')
  return 0
}
