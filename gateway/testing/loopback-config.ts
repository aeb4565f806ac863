// The config of a gateway that a test starts in-process: MQTT and HTTP on
// 127.0.0.1 with ports the system picks, its data in `dir`/data, and the event
// set-up written to `dir`/event.json (0600: it holds kiosk tokens and PINs), so
// that a test file names only what its test is about.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { resolveConfig, type ConfigLayer, type GatewayConfig } from '../config.js'

export function loopbackGatewayConfig(dir: string, event: unknown, layer: ConfigLayer = {}): GatewayConfig {
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(event), { mode: 0o600 })
  return resolveConfig({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'data'), eventFile, logLevel: 'silent' }, layer)
}
