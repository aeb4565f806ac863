// Kiosk daemon configuration: defaults < JSON config file < environment <
// command line. The defaults run the demo on one machine. Bad values are a
// ConfigError naming the setting, before anything starts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Type, { type Static } from 'typebox'
import { KioskId, createValidator } from '../device-protocol/index.js'
import { normaliseBleAddress } from './reader/ble-address.js'
import { ENROLLMENT_FILE_NAME, EnrollmentFileError, readEnrollmentFile } from './enrollment-file.js'

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

export type ReaderSpec =
  | { kind: 'serial'; path: string; baudRate: number }
  /** USB PC/SC readers through pcscd; `readerName` matches part of the reader's name. */
  | { kind: 'pcsc'; readerName?: string }
  /** BLE readers with the Nordic UART Service, by address. */
  | { kind: 'ble'; addresses: string[] }
  /** An in-process reader (daemon/reader/memory-reader.ts) the embedding program drives (demo, simulators). */
  | { kind: 'memory' }

export type TerminalSpec =
  /** A ZVT card terminal on a serial port (ECR interface). */
  | { kind: 'zvt'; path: string; baudRate: number }
  /** A ZVT card terminal on the LAN: bare APDUs over TCP (port 20007 by default). */
  | { kind: 'zvt-tcp'; host: string; port: number }
  /** An in-process terminal (daemon/terminal/memory-terminal.ts) the embedding program drives (demo, simulators). */
  | { kind: 'memory' }

export interface KioskDaemonConfig {
  kioskId: string
  /** MQTT password from enrollment. A secret: never log it (see redactConfig). */
  token?: string
  mqttUrl: string
  /** CA certificates (PEM file) the gateway's TLS certificate must chain to (mqtts:// and wss:// only); the system's CAs when absent. */
  caFile?: string
  dataDir: string
  reader: ReaderSpec
  /** The card terminal for card top-ups; none when undefined (card top-ups are refused). */
  terminal?: TerminalSpec
  /** The ZVT terminal's 6-digit ECR password. A secret: never log it (see redactConfig). */
  terminalPassword: string
  /** ISO 4217 numeric currency of card payments (978 = EUR). */
  terminalCurrency: number
  /** Local HTTP API port on 127.0.0.1; 0 picks a free one. */
  apiPort: number
  outboxMaxEntries: number
  /** Answered envelopes kept for a gateway restored from a backup: at least this many newest ones... */
  keepAnsweredCount: number
  /** ...or all answered within this many hours, whichever keeps more... */
  keepAnsweredHours: number
  /** ...but never more than this many bytes of them (oldest dropped first). */
  keepAnsweredMaxBytes: number
  replyTimeoutMs: number
  tapTimeoutMs: number
  /** Period of the state message (it is also sent on every change). */
  stateIntervalMs: number
  feedbackDurationMs: number
  reconnectInitialDelayMs: number
  reconnectMaxDelayMs: number
  /** Tighten a key file/data dir readable by others instead of refusing to start. */
  repairKeyPermissions: boolean
  serialAckTimeoutMs: number
  serialReconnectDelayMs: number
  /**
   * The gateway's Ed25519 public key (base64url) that blocklists must be signed
   * with. Without it the kiosk pins the first key a config from the gateway offers.
   */
  gatewayKey?: string
}

/** What a config file (and the overrides) may set; all optional. */
export const KioskConfigFile = Type.Object(
  {
    // Descriptions and `secret` marks make the reference in CONFIGURATION.md (--print-config-reference) and mask --print-config.
    kioskId: Type.Optional(Type.String({ pattern: (KioskId as { pattern?: string }).pattern!, description: "this kiosk's id, as in the event set-up (e.g. bar-1); required" })),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 512, secret: true, description: "the kiosk's MQTT password: from the event set-up, or from enrollment.json in the data folder, which wristpay-kiosk enroll writes (set here, it wins over that file)" })),
    mqttUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "the gateway's broker, e.g. mqtt://gateway:1883 (the gateway's mqtt.host must listen on that network)" })),
    caFile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description:
          "CA certificate (PEM file) that the gateway's TLS certificate must chain to, with an mqtts:// (or wss://) mqttUrl whose host name the certificate names; default: the system's CAs. A certificate that does not verify is refused, never fallen back to clear text",
      }),
    ),
    dataDir: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, description: 'key, outbox and config of this kiosk (default ./data/kiosk-{kioskId}; the systemd unit sets /var/lib/wristpay-kiosk)' }),
    ),
    reader: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'the NFC reader: serial:/dev/ttyACM0@115200, pcsc[:NAME], ble:AA:BB:CC:DD:EE:FF[,...] or memory' })),
    terminal: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'the card terminal for card top-ups: zvt:/dev/ttyUSB1@9600 (ZVT on a serial line), zvt-tcp:192.168.1.50[:20007] (ZVT on the LAN, port 20007 by default), memory or none (default none)' })),
    terminalPassword: Type.Optional(Type.String({ pattern: '^[0-9]{6}$', secret: true, description: "the ZVT terminal's 6-digit ECR password (set the terminal's own; the default is the factory one)" })),
    terminalCurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 999, description: 'ISO 4217 numeric currency of card payments (978 = EUR)' })),
    apiPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'port of the local API and touchscreen page on 127.0.0.1 (0 picks a free one)' })),
    outboxMaxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'unanswered transactions kept at most; beyond, new sales are refused' })),
    keepAnsweredCount: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000_000,
        description: 'answered transactions kept (as signed) so that a gateway restored from a backup can be sent what it lost: at least this many newest ones, or all of keepAnsweredHours, whichever keeps more',
      }),
    ),
    keepAnsweredHours: Type.Optional(Type.Integer({ minimum: 0, maximum: 24 * 366, description: 'answered transactions of the last this many hours are kept too (see keepAnsweredCount)' })),
    keepAnsweredMaxBytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2 ** 40, description: 'upper bound of the bytes the kept answered transactions take on disk; beyond, the oldest go first (an envelope is about 500 bytes)' }),
    ),
    replyTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: "how long a sale waits for the gateway's answer before it says pending" })),
    tapTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'how long an operation waits for a wristband tap' })),
    stateIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'period of the state message to the gateway (also sent on every change)' })),
    feedbackDurationMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: "how long the reader's LED and beeper show a result" })),
    reconnectInitialDelayMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'first wait before reconnecting to the gateway; doubles per failure' })),
    reconnectMaxDelayMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'longest wait between reconnects' })),
    repairKeyPermissions: Type.Optional(
      Type.Boolean({ description: 'tighten a key file or data folder that group or others can read (with a warning) instead of refusing to start' }),
    ),
    serialAckTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, description: "how long the kiosk waits for a reader's acknowledgement (serial and BLE readers)" })),
    serialReconnectDelayMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'wait before reconnecting to a serial or BLE reader that went away' })),
    gatewayKey: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: "the gateway's blocklist signing key (base64url, GET /admin/gateway-keys); without it the kiosk pins the first key a config offers" }),
    ),
  },
  { additionalProperties: false },
)
export type KioskConfigFile = Static<typeof KioskConfigFile>
const validateConfigFile = createValidator(KioskConfigFile)

export const DEFAULTS = {
  mqttUrl: 'mqtt://127.0.0.1:1883',
  reader: 'serial:/dev/ttyUSB0@115200',
  apiPort: 8090,
  outboxMaxEntries: 1000,
  // About a week of a busy till, in at most 64 MiB of the SD card.
  keepAnsweredCount: 10_000,
  keepAnsweredHours: 7 * 24,
  keepAnsweredMaxBytes: 64 * 1024 * 1024,
  replyTimeoutMs: 5_000,
  tapTimeoutMs: 30_000,
  stateIntervalMs: 10_000,
  feedbackDurationMs: 1_500,
  reconnectInitialDelayMs: 500,
  reconnectMaxDelayMs: 10_000,
  repairKeyPermissions: false,
  serialAckTimeoutMs: 1_000,
  serialReconnectDelayMs: 2_000,
  // The ZVT factory default; set the terminal's own in production.
  terminalPassword: '000000',
  terminalCurrency: 978,
} as const

/** Environment variable of each setting that has one. */
export const ENV_VARS = {
  kioskId: 'WRISTPAY_KIOSK_ID',
  token: 'WRISTPAY_KIOSK_TOKEN',
  mqttUrl: 'WRISTPAY_MQTT_URL',
  caFile: 'WRISTPAY_MQTT_CA_FILE',
  dataDir: 'WRISTPAY_DATA_DIR',
  reader: 'WRISTPAY_READER',
  terminal: 'WRISTPAY_TERMINAL',
  terminalPassword: 'WRISTPAY_TERMINAL_PASSWORD',
  apiPort: 'WRISTPAY_API_PORT',
  outboxMaxEntries: 'WRISTPAY_OUTBOX_MAX',
  replyTimeoutMs: 'WRISTPAY_REPLY_TIMEOUT_MS',
  tapTimeoutMs: 'WRISTPAY_TAP_TIMEOUT_MS',
  gatewayKey: 'WRISTPAY_GATEWAY_KEY',
} as const satisfies Partial<Record<keyof KioskConfigFile, string>>
export const CONFIG_FILE_ENV = 'WRISTPAY_KIOSK_CONFIG'

const NUMERIC_KEYS = new Set<string>(['apiPort', 'outboxMaxEntries', 'replyTimeoutMs', 'tapTimeoutMs'])

/** `serial:/dev/ttyUSB0@115200` (baud rate optional, default 115200) or `memory`. */
export function parseReaderSpec(spec: string): ReaderSpec {
  if (spec === 'memory') return { kind: 'memory' }
  const serial = /^serial:([^@]+)(?:@(\d{1,7}))?$/.exec(spec)
  if (serial) {
    const baudRate = serial[2] === undefined ? 115200 : Number(serial[2])
    if (baudRate < 50) throw new ConfigError(`reader: baud rate ${baudRate} is too low`)
    return { kind: 'serial', path: serial[1]!, baudRate }
  }
  const pcsc = /^pcsc(?::(.{1,200}))?$/.exec(spec)
  if (pcsc) return { kind: 'pcsc', ...(pcsc[1] ? { readerName: pcsc[1] } : {}) }
  const ble = /^ble:(.+)$/.exec(spec)
  if (ble) {
    const addresses = ble[1]!.split(',').map((a) => normaliseBleAddress(a.trim()))
    if (addresses.some((a) => a === null)) throw new ConfigError(`reader: ${JSON.stringify(spec.slice(0, 100))}: BLE reader addresses look like AA:BB:CC:DD:EE:FF, comma-separated`)
    return { kind: 'ble', addresses: addresses as string[] }
  }
  throw new ConfigError(`reader: ${JSON.stringify(spec.slice(0, 100))} is not a reader spec; use serial:/dev/ttyUSB0@115200, pcsc, pcsc:ACR122, ble:AA:BB:CC:DD:EE:FF or memory`)
}

/** `zvt:/dev/ttyUSB1@9600` (baud rate optional, default 9600), `zvt-tcp:HOST[:PORT]` (port default 20007; an IPv6 address in brackets), `memory`, or `none`. */
export function parseTerminalSpec(spec: string): TerminalSpec | undefined {
  if (spec === 'none') return undefined
  if (spec === 'memory') return { kind: 'memory' }
  const zvt = /^zvt:([^@]+)(?:@(\d{1,7}))?$/.exec(spec)
  if (zvt) {
    const baudRate = zvt[2] === undefined ? 9600 : Number(zvt[2])
    if (baudRate < 50) throw new ConfigError(`terminal: baud rate ${baudRate} is too low`)
    return { kind: 'zvt', path: zvt[1]!, baudRate }
  }
  const zvtTcp = /^zvt-tcp:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?))(?::(\d{1,5}))?$/.exec(spec)
  if (zvtTcp) {
    const port = zvtTcp[3] === undefined ? 20007 : Number(zvtTcp[3])
    if (port < 1 || port > 65535) throw new ConfigError(`terminal: port ${port} is not a TCP port`)
    return { kind: 'zvt-tcp', host: zvtTcp[1] ?? zvtTcp[2]!, port }
  }
  throw new ConfigError(`terminal: ${JSON.stringify(spec.slice(0, 100))} is not a terminal spec; use zvt:/dev/ttyUSB1@9600, zvt-tcp:192.168.1.50:20007, memory or none`)
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const [key, name] of Object.entries(ENV_VARS)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    if (NUMERIC_KEYS.has(key)) {
      if (!/^\d{1,9}$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(raw.slice(0, 40))}`)
      values[key] = Number(raw)
    } else values[key] = raw
  }
  return values
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ConfigError(`config file ${path} is not valid JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`config file ${path} must hold a JSON object`)
  return value as Record<string, unknown>
}

function checkLayer(layer: Record<string, unknown>, source: string): KioskConfigFile {
  const checked = validateConfigFile(layer)
  if (!checked.ok) throw new ConfigError(`${source}: ${checked.error}`)
  return checked.value
}

/** The data folder when none is set: under the working directory, for development and the demo. */
export const defaultDataDir = (kioskId: string): string => join('data', `kiosk-${kioskId}`)

export interface LoadConfigOptions {
  /** Path of a JSON config file; defaults to $WRISTPAY_KIOSK_CONFIG when set. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Highest precedence (command-line flags). */
  overrides?: KioskConfigFile
}

export function loadConfig(options: LoadConfigOptions = {}): KioskDaemonConfig {
  const env = options.env ?? process.env
  const filePath = options.file ?? (env[CONFIG_FILE_ENV] || undefined)
  const file = filePath ? checkLayer(readConfigFile(filePath), `config file ${filePath}`) : {}
  const fromEnvironment = checkLayer(fromEnv(env), 'environment')
  const overrides = checkLayer(dropUndefined({ ...options.overrides }), 'command line')
  const layered: KioskConfigFile = { ...file, ...fromEnvironment, ...overrides }
  // What `wristpay-kiosk enroll` stored is the lowest layer: anything set elsewhere wins.
  const merged: KioskConfigFile = { ...enrolledLayer(layered), ...layered }

  const kioskId = merged.kioskId
  if (!kioskId) throw new ConfigError(`no kiosk id: set ${ENV_VARS.kioskId}, --kiosk-id or kioskId in the config file`)
  const config: KioskDaemonConfig = {
    kioskId,
    mqttUrl: merged.mqttUrl ?? DEFAULTS.mqttUrl,
    dataDir: merged.dataDir ?? defaultDataDir(kioskId),
    reader: parseReaderSpec(merged.reader ?? DEFAULTS.reader),
    apiPort: merged.apiPort ?? DEFAULTS.apiPort,
    outboxMaxEntries: merged.outboxMaxEntries ?? DEFAULTS.outboxMaxEntries,
    keepAnsweredCount: merged.keepAnsweredCount ?? DEFAULTS.keepAnsweredCount,
    keepAnsweredHours: merged.keepAnsweredHours ?? DEFAULTS.keepAnsweredHours,
    keepAnsweredMaxBytes: merged.keepAnsweredMaxBytes ?? DEFAULTS.keepAnsweredMaxBytes,
    replyTimeoutMs: merged.replyTimeoutMs ?? DEFAULTS.replyTimeoutMs,
    tapTimeoutMs: merged.tapTimeoutMs ?? DEFAULTS.tapTimeoutMs,
    stateIntervalMs: merged.stateIntervalMs ?? DEFAULTS.stateIntervalMs,
    feedbackDurationMs: merged.feedbackDurationMs ?? DEFAULTS.feedbackDurationMs,
    reconnectInitialDelayMs: merged.reconnectInitialDelayMs ?? DEFAULTS.reconnectInitialDelayMs,
    reconnectMaxDelayMs: merged.reconnectMaxDelayMs ?? DEFAULTS.reconnectMaxDelayMs,
    repairKeyPermissions: merged.repairKeyPermissions ?? DEFAULTS.repairKeyPermissions,
    serialAckTimeoutMs: merged.serialAckTimeoutMs ?? DEFAULTS.serialAckTimeoutMs,
    serialReconnectDelayMs: merged.serialReconnectDelayMs ?? DEFAULTS.serialReconnectDelayMs,
    terminalPassword: merged.terminalPassword ?? DEFAULTS.terminalPassword,
    terminalCurrency: merged.terminalCurrency ?? DEFAULTS.terminalCurrency,
  }
  if (merged.token !== undefined) config.token = merged.token
  if (merged.gatewayKey !== undefined) config.gatewayKey = merged.gatewayKey
  if (merged.caFile !== undefined) config.caFile = merged.caFile
  const terminal = merged.terminal === undefined ? undefined : parseTerminalSpec(merged.terminal)
  if (terminal !== undefined) config.terminal = terminal
  if (!/^(mqtts?|wss?|tcp|tls):\/\/./.test(config.mqttUrl)) throw new ConfigError(`mqttUrl ${JSON.stringify(config.mqttUrl.slice(0, 100))} must start with mqtt://, mqtts://, ws:// or wss://`)
  if (config.caFile !== undefined && !/^(mqtts|wss|tls):\/\//.test(config.mqttUrl)) {
    throw new ConfigError(`caFile is for a TLS broker URL (mqtts:// or wss://), but mqttUrl ${JSON.stringify(config.mqttUrl.slice(0, 100))} is clear text: use the gateway's mqtts:// address`)
  }
  if (config.reconnectMaxDelayMs < config.reconnectInitialDelayMs) throw new ConfigError('reconnectMaxDelayMs must not be below reconnectInitialDelayMs')
  return config
}

/** The settings of the data folder's enrollment.json (enrollment-file.ts), if the kiosk was enrolled with a registration code. */
function enrolledLayer(layered: KioskConfigFile): KioskConfigFile {
  const dataDir = layered.dataDir ?? (layered.kioskId === undefined ? undefined : defaultDataDir(layered.kioskId))
  if (dataDir === undefined) return {}
  let enrolled
  try {
    enrolled = readEnrollmentFile(dataDir)
  } catch (err) {
    if (err instanceof EnrollmentFileError) throw new ConfigError(err.message)
    throw err
  }
  if (enrolled === undefined) return {}
  if (layered.kioskId !== undefined && layered.kioskId !== enrolled.kioskId)
    throw new ConfigError(`the kiosk id is ${layered.kioskId}, but ${join(dataDir, ENROLLMENT_FILE_NAME)} enrolled this data folder as ${enrolled.kioskId}: set one kiosk id, or enroll again`)
  return { kioskId: enrolled.kioskId, mqttUrl: enrolled.mqttUrl, token: enrolled.token, ...(enrolled.gatewayKey === undefined ? {} : { gatewayKey: enrolled.gatewayKey }) }
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** The config as it may be logged: the token and the terminal password replaced. */
export function redactConfig(config: KioskDaemonConfig): Omit<KioskDaemonConfig, 'token'> & { token?: string } {
  const redacted = { ...config, terminalPassword: '[redacted]' }
  return config.token === undefined ? redacted : { ...redacted, token: '[redacted]' }
}

/** The PEM of caFile, for the MQTT link; a ConfigError naming the file when it cannot be read or holds no certificate. */
export function readMqttCa(config: Pick<KioskDaemonConfig, 'caFile'>): Buffer | undefined {
  if (config.caFile === undefined) return undefined
  let pem: Buffer
  try {
    pem = readFileSync(config.caFile)
  } catch (err) {
    throw new ConfigError(`caFile ${config.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`caFile ${config.caFile} holds no PEM certificate`)
  return pem
}
