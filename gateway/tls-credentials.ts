// The certificate and key of the MQTT listeners (config mqtt.tls), read and
// checked once at start: a missing file, a key that does not belong to the
// certificate or a file that is not PEM stops the gateway with a message
// naming the setting, instead of failing every kiosk's handshake later.
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { GatewayConfig } from './config.js'

export type MqttTlsSettings = NonNullable<GatewayConfig['mqtt']['tls']>

/** What tls.createServer takes: PEM contents. */
export interface TlsCredentials {
  cert: Buffer
  key: Buffer
  ca?: Buffer
}

export class TlsSettingsError extends Error {
  override name = 'TlsSettingsError'
}

function readSetting(setting: keyof MqttTlsSettings, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new TlsSettingsError(`mqtt.tls.${setting}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
}

export function readTlsCredentials(settings: MqttTlsSettings): TlsCredentials {
  const credentials: TlsCredentials = { cert: readSetting('certFile', settings.certFile), key: readSetting('keyFile', settings.keyFile) }
  if (settings.caFile !== undefined) credentials.ca = readSetting('caFile', settings.caFile)
  try {
    // Throws on a key that does not match the certificate, or on anything that is not PEM.
    createSecureContext(credentials)
  } catch (err) {
    // OpenSSL's reason only (e.g. "key values mismatch"): never the key's bytes.
    throw new TlsSettingsError(`mqtt.tls: ${settings.certFile} and ${settings.keyFile} are not a usable certificate and key (${(err as Error).message})`)
  }
  return credentials
}
