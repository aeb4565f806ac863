// The gateway's configuration reference (--print-config-reference, and the
// gateway section of CONFIGURATION.md) and its effective config with the
// secrets masked (--print-config), both read from the GatewayConfig schema.
import { describeConfigSchema, maskSecrets, renderConfigTable } from '../device-protocol/config-reference.js'
import { DEFAULT_BROKER_LIMITS } from './broker.js'
import { DEFAULT_CONFIG, DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES, ENV_VARS, GatewayConfig } from './config.js'
import { DEFAULT_HTTP_LIMITS } from './http.js'

/** The defaults as the gateway applies them: the config's own and the broker's and HTTP server's limits. */
function effectiveDefaults(): Record<string, unknown> {
  return {
    ...DEFAULT_CONFIG,
    mqtt: { ...DEFAULT_CONFIG.mqtt, ...DEFAULT_BROKER_LIMITS },
    http: { ...DEFAULT_CONFIG.http, ...DEFAULT_HTTP_LIMITS },
    // Stancer is absent unless configured; its interval's default applies when it is.
    payments: { ...DEFAULT_CONFIG.payments, stancer: { reconcileIntervalMinutes: DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES } },
  }
}

/** The Markdown table of every gateway setting. */
export function gatewayConfigReference(): string {
  return renderConfigTable(describeConfigSchema(GatewayConfig, { defaults: effectiveDefaults(), env: ENV_VARS }))
}

/** The config as it may be printed or logged: every value the schema marks secret is masked. */
export function printableGatewayConfig(config: GatewayConfig): unknown {
  return maskSecrets(config, GatewayConfig)
}
