// Every fuzz target, in the order `npm run fuzz` runs them.
import type { FuzzTarget } from '../target.js'
import { bankStatementsTarget } from './bank-statements.js'
import { eventSetupTarget } from './event-setup.js'
import { httpRoutesTarget } from './http-routes.js'
import { mqttGatewayTarget } from './mqtt-gateway.js'
import { mqttKioskTarget } from './mqtt-kiosk.js'
import { readerFramesTarget } from './reader-frames.js'
import { zvtFramesTarget } from './zvt-frames.js'

export const FUZZ_TARGETS: readonly FuzzTarget<any>[] = [readerFramesTarget, zvtFramesTarget, mqttGatewayTarget, mqttKioskTarget, httpRoutesTarget, bankStatementsTarget, eventSetupTarget]
