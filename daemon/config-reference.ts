// The kiosk's configuration reference (--print-config-reference, and the kiosk
// section of CONFIGURATION.md) and its effective config with the secrets
// masked (--print-config), both read from the KioskConfigFile schema.
import { describeConfigSchema, maskSecrets, renderConfigTable } from '../device-protocol/config-reference.js'
import { DEFAULTS, ENV_VARS, KioskConfigFile, type KioskDaemonConfig } from './config.js'

/** The Markdown table of every kiosk setting. */
export function kioskConfigReference(): string {
  return renderConfigTable(describeConfigSchema(KioskConfigFile, { defaults: DEFAULTS, env: ENV_VARS }))
}

/** The config as it may be printed: the token and the terminal password masked (the schema marks them). */
export function printableKioskConfig(config: KioskDaemonConfig): unknown {
  return maskSecrets(config, KioskConfigFile)
}
