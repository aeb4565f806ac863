// What the monitor reads (contract C2 of issue 15): the gateway's retained state
// with its totals and its fleet rows, worst first, and the alerts, each checked
// with device-protocol's schemas before the monitor looks at it.
import { AlertEvent, MAX_GATEWAY_STATE_PAYLOAD_BYTES, validateGatewayState, type FleetRow, type GatewayState, type Totals } from '../../device-protocol/messages.js'
import { createValidator, type Validator } from '../../device-protocol/validate.js'

export type { AlertEvent, FleetRow, GatewayState, Totals }
export { validateGatewayState }
/** The gateway's state carries a row per kiosk: far more than the 64 KiB of other payloads. */
export const MAX_GATEWAY_STATE_BYTES = MAX_GATEWAY_STATE_PAYLOAD_BYTES
export const validateAlert: Validator<AlertEvent> = createValidator(AlertEvent)
