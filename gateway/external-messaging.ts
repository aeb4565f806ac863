// The external broker put together for the gateway (config mqtt.url): its
// secrets read from the environment or 0600 files, the dynamic security
// admin's connection, the gateway's own account provisioned before it logs in,
// the messaging adapter (external-broker.ts), and the kiosks provisioned from
// the registry whenever they change. A provisioning that fails or leaves a
// kiosk without a working login is an error in the log and an operator alert.
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { hostname as machineName } from 'node:os'
import { resolve } from 'node:path'
import type { SqlDatabase } from './sql/database.js'
import type { Logger } from 'pino'
import type { Broker, BrokerOptions } from './broker.js'
import type { GatewayConfig, OperatorAccount } from './config.js'
import { connectDynsecClient, type DynsecClient } from './dynsec-client.js'
import { createBrokerProvisioner, type BrokerProvisioner, type KioskCredential, type OperatorLogin } from './dynsec.js'
import { createExternalBroker, type ExternalBrokerSettings } from './external-broker.js'
import { hashToken } from './registry/secrets.js'

export const DEFAULT_GATEWAY_MQTT_USERNAME = 'wristpay-gateway'
export const DEFAULT_DYNSEC_ADMIN_USERNAME = 'admin'
export const GATEWAY_PASSWORD_ENV = 'WRISTPAY_GATEWAY_MQTT_PASSWORD'
export const DYNSEC_PASSWORD_ENV = 'WRISTPAY_GATEWAY_MQTT_DYNSEC_PASSWORD'

export interface ExternalMessagingSettings {
  broker: ExternalBrokerSettings
  admin: { username: string; password: string; clientId: string }
  /** The operator accounts of the config (monitor, console), provisioned as the broker's operator clients. */
  operators: OperatorLogin[]
}

/** A secret from the environment, else from a file that only its owner may read; the secret itself never appears in an error. */
export function readSecret(what: string, envName: string, file: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[envName]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (file === undefined) throw new Error(`${what}: set ${envName} or give a 0600 file`)
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (err) {
    throw new Error(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  if ((mode & 0o077) !== 0) throw new Error(`${what}: ${file} may be read by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`)
  const secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  if (secret.length === 0) throw new Error(`${what}: ${file} is empty`)
  return secret
}

/**
 * The gateway's client id when mqtt.external.clientId is not set: `wristpay-gateway-{host}-{hash}` of the
 * machine's name and the gateway's data folder (absolute path). Both stay the same across restarts, so a
 * gateway finds its persistent session (and what it had not acknowledged) again; two gateways on one machine
 * have different data folders. Machines cloned with the same name and folder need mqtt.external.clientId.
 */
export function defaultGatewayClientId(host: string, dataDir: string): string {
  const folder = createHash('sha256').update(resolve(dataDir), 'utf8').digest('hex').slice(0, 12)
  const name = host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'host'
  return `wristpay-gateway-${name}-${folder}`
}

/** What else of the gateway the external broker needs. */
export interface GatewayIdentity {
  /** The gateway's data folder (config dataDir); with the machine's name, the default client id. */
  dataDir: string
  /** The machine's name; os.hostname() by default. */
  hostname?: string
  /** config operators: their logins are made in the broker too. */
  operators?: readonly OperatorAccount[]
}

/** The settings of config mqtt.url, or undefined for the embedded broker. Throws on a missing or exposed secret. */
export function externalMessagingSettings(mqtt: GatewayConfig['mqtt'], env: NodeJS.ProcessEnv, gateway: GatewayIdentity): ExternalMessagingSettings | undefined {
  if (mqtt.url === undefined) return undefined
  const external = mqtt.external ?? {}
  const clientId = external.clientId ?? defaultGatewayClientId(gateway.hostname ?? machineName(), gateway.dataDir)
  const ca = external.caFile === undefined ? undefined : readFileSync(external.caFile)
  if (ca !== undefined && !mqtt.url.startsWith('mqtts://')) throw new Error('mqtt.external.caFile is set but mqtt.url is not mqtts://: the connection would not be encrypted')
  return {
    broker: {
      url: mqtt.url,
      username: external.username ?? DEFAULT_GATEWAY_MQTT_USERNAME,
      password: readSecret("the gateway's password at the external broker", GATEWAY_PASSWORD_ENV, external.credentialFile, env),
      clientId,
      ...(external.shareGroup === undefined ? {} : { shareGroup: external.shareGroup }),
      ...(external.sessionExpirySeconds === undefined ? {} : { sessionExpiryS: external.sessionExpirySeconds }),
      ...(ca === undefined ? {} : { connectOptions: { ca } }),
    },
    admin: {
      username: external.dynsecAdminUsername ?? DEFAULT_DYNSEC_ADMIN_USERNAME,
      password: readSecret("the dynamic security admin's password", DYNSEC_PASSWORD_ENV, external.dynsecAdminCredentialFile, env),
      // Beside the gateway's own id, never equal to it (that would take its session over).
      clientId: `${clientId}/dynsec`,
    },
    operators: (gateway.operators ?? []).map((op) => ({ name: op.name, token: op.token, admin: op.roles?.includes('admin') === true })),
  }
}

/** Every kiosk the registry has (retired ones too: their clients must go), as the provisioning needs them. */
export function kioskCredentialsOf(db: SqlDatabase): KioskCredential[] {
  return db
    .prepare<[], { id: string; token_hash: string; retired: string | number | null; origin: string | null; token_source: string | null }>(`SELECT id, token_hash, retired, origin, token_source FROM kiosks ORDER BY id`)
    .all()
    .map((row) => ({ id: row.id, tokenHash: row.token_hash, retired: row.retired !== null, awaitingEnrollment: row.origin === 'admin' && row.token_source === null }))
}

export interface ExternalMessaging {
  broker: Broker
  /**
   * Brings the broker's kiosk clients in line with the registry; `tokens` are the plain tokens at hand
   * (the event set-up's, a just redeemed code's). Never throws: a failure is logged and alerted; resolves false then.
   */
  provisionKiosks(tokens: ReadonlyMap<string, string>): Promise<boolean>
  /**
   * provisionKiosks with `kioskId`'s login set to `token` before the registry has it (an enrollment by
   * registration code, whose code is spent only once this resolved true). Never throws.
   */
  provisionKioskLogin(kioskId: string, token: string, tokens: ReadonlyMap<string, string>): Promise<boolean>
}

export interface ExternalMessagingDeps {
  settings: ExternalMessagingSettings
  brokerOptions: BrokerOptions
  kiosks: () => KioskCredential[]
  alert: (kind: string, message: string) => void
  logger: Logger
  /** Ingest's settled(): a kiosk's tx is acknowledged to the broker only once it is committed (external-broker.ts). */
  kioskTxSettled?: () => Promise<void>
}

export async function connectExternalMessaging(deps: ExternalMessagingDeps): Promise<ExternalMessaging> {
  const { settings, logger } = deps
  const { username, password, connectOptions } = settings.broker
  const admin: DynsecClient = await connectDynsecClient({ url: settings.broker.url, ...settings.admin, ...(connectOptions ? { connectOptions } : {}) })
  const provisioner = createBrokerProvisioner(admin)
  try {
    // Before the gateway logs in: on a fresh broker its account exists only once this is done.
    await provisioner.provisionGateway({ username, password })
  } catch (err) {
    await admin.close()
    throw err
  }
  const inner = createExternalBroker({ ...deps.brokerOptions, ...(deps.kioskTxSettled ? { kioskTxSettled: deps.kioskTxSettled } : {}) }, settings.broker)
  const broker: Broker = {
    ...inner,
    async listen(host, port) {
      const address = await inner.listen(host, port)
      // Here, not before: an alert needs the gateway's broker, which it has once it listens.
      await provisionOperatorLogins(provisioner, settings.operators, deps)
      return address
    },
    async close() {
      await inner.close()
      await admin.close()
    },
  }

  async function provisionKiosks(tokens: ReadonlyMap<string, string>, enrolling?: { kioskId: string; token: string }): Promise<boolean> {
    try {
      const kiosks = deps.kiosks().map((k) => (k.id === enrolling?.kioskId ? { ...k, tokenHash: hashToken(enrolling.token), awaitingEnrollment: false } : k))
      const report = await provisioner.provisionKiosks(kiosks, enrolling === undefined ? tokens : new Map([...tokens, [enrolling.kioskId, enrolling.token]]))
      if (report.changed.length > 0 || report.deleted.length > 0) logger.info({ changed: report.changed, retired: report.deleted }, 'kiosk logins provisioned in the external mqtt broker')
      if (report.unknownToken.length > 0) {
        const message = `kiosks ${report.unknownToken.join(', ')} cannot log in to the external broker: their token is not at hand (enrolled by a registration code before the broker had it); issue each a new registration code`
        logger.error({ kiosks: report.unknownToken }, message)
        deps.alert('mqtt_kiosk_login_missing', message)
      }
      return true
    } catch (err) {
      const message = `provisioning kiosk logins in the external broker failed: ${(err as Error).message}`
      logger.error({ err }, message)
      deps.alert('mqtt_provisioning_failed', message)
      return false
    }
  }

  return {
    broker,
    provisionKiosks: (tokens) => provisionKiosks(tokens),
    provisionKioskLogin: (kioskId, token, tokens) => provisionKiosks(tokens, { kioskId, token }),
  }
}

/**
 * The operators' logins in the broker as the config has them. Never throws: a refusal or a malformed answer of
 * the plugin is an error in the log and an operator alert (the gateway goes on; the operators' accounts are
 * as the broker had them). Resolves false then.
 */
export async function provisionOperatorLogins(provisioner: Pick<BrokerProvisioner, 'provisionOperators'>, operators: readonly OperatorLogin[], deps: Pick<ExternalMessagingDeps, 'logger' | 'alert'>): Promise<boolean> {
  try {
    const report = await provisioner.provisionOperators(operators)
    if (report.changed.length > 0 || report.deleted.length > 0) deps.logger.info({ changed: report.changed, removed: report.deleted }, 'operator logins provisioned in the external mqtt broker')
    return true
  } catch (err) {
    const message = `provisioning operator logins in the external broker failed: ${(err as Error).message}`
    deps.logger.error({ err }, message)
    deps.alert('mqtt_provisioning_failed', message)
    return false
  }
}
