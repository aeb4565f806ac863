// Every MQTT payload kind the kiosk reads from the gateway, through the very
// parse the kiosk's link and command handler use (device-protocol's parseJson
// with the payload's schema and size limit): replies (results, resend
// requests, balance and chain answers), the retained kiosk config (a real one
// from the registry), remote commands and the gateway's state; as samples,
// damaged samples, damaged bytes and junk. Oracle: the parse never throws;
// what it accepts fits its size limit and survives a round trip through JSON
// unchanged and valid; nothing reaches Object.prototype.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import {
  MAX_COMMAND_PAYLOAD_BYTES,
  MAX_CONFIG_PAYLOAD_BYTES,
  MAX_GATEWAY_STATE_PAYLOAD_BYTES,
  MAX_PAYLOAD_BYTES,
  parseJson,
  validateGatewayState,
  validateKioskCommand,
  validateKioskConfig,
  validateReply,
  type Validator,
} from '../../../device-protocol/index.js'
import { makeWorld } from '../../../gateway/ledger/testing/test-helpers.js'
import { mutatedBytes, mutatedJson, oddJson, type Json } from '../mutate.js'
import { assertNoPrototypePollution, expect, type FuzzTarget, type Verdict } from '../target.js'

interface PayloadKind {
  name: string
  validate: Validator<unknown>
  maxBytes: number
  samples: Json[]
}

function payloadKinds(): PayloadKind[] {
  // A real kiosk config, as the gateway publishes it retained.
  const world = makeWorld()
  const config = world.ledger.registry.kioskConfig('bar-1') as unknown as Json
  world.close()
  const id = '0190a8a4-0000-7000-8000-000000000001'
  return [
    {
      name: 'reply',
      validate: validateReply as Validator<unknown>,
      maxBytes: MAX_PAYLOAD_BYTES,
      samples: [
        { kind: 'result', id, seq: 1, status: 'accepted', balance: 1550 },
        { kind: 'result', id, seq: 2, status: 'rejected', reason: 'insufficient_balance' },
        { kind: 'resend', fromSeq: 3 },
        { kind: 'balance', requestId: id, uid: '04A1B2C3D4E5F6', status: 'ok', balance: 1550, vouchers: 0, blocked: false, debt: 0, recent: [] },
        { kind: 'chain', requestId: id, nextSeq: 4, lastHash: '0'.repeat(64), enrolledKey: null },
      ],
    },
    { name: 'config', validate: validateKioskConfig as Validator<unknown>, maxBytes: MAX_CONFIG_PAYLOAD_BYTES, samples: [config] },
    {
      name: 'command',
      validate: validateKioskCommand as Validator<unknown>,
      maxBytes: MAX_COMMAND_PAYLOAD_BYTES,
      samples: [{ v: 1, id, kiosk: 'bar-1', command: 'lock', by: 'ops', reason: 'closing', issuedAt: 1_750_000_000_000, expiresAt: 1_750_000_060_000 }],
    },
    {
      name: 'gateway-state',
      validate: validateGatewayState as Validator<unknown>,
      maxBytes: MAX_GATEWAY_STATE_PAYLOAD_BYTES,
      samples: [{ status: 'online', at: 1_750_000_000_000 }],
    },
  ]
}

export interface KioskPayloadInput {
  kind: number
  payload: string | Uint8Array
}

export const mqttKioskTarget: FuzzTarget<KioskPayloadInput> = {
  name: 'mqtt-kiosk',
  description: 'MQTT payloads the kiosk reads (replies, its config, remote commands, the gateway state) through the kiosk-side parse',
  ciCount: 60,
  create() {
    const kinds = payloadKinds()
    const counts = new Map<string, { accepted: number; refused: number }>(kinds.map((k) => [k.name, { accepted: 0, refused: 0 }]))
    const arbitrary: fc.Arbitrary<KioskPayloadInput> = fc.oneof(
      ...kinds.map((kind, i) =>
        fc.record({
          kind: fc.constant(i),
          payload: fc.oneof(
            { weight: 2, arbitrary: fc.constantFrom(...kind.samples).map((v) => JSON.stringify(v)) },
            { weight: 5, arbitrary: mutatedJson(kind.samples).map((v) => JSON.stringify(v)) },
            { weight: 2, arbitrary: mutatedBytes(kind.samples.map((s) => Buffer.from(JSON.stringify(s)))) },
            { weight: 1, arbitrary: fc.oneof(oddJson.map((v) => JSON.stringify(v)), fc.uint8Array({ maxLength: 100 }), fc.constantFrom('', '{"__proto__":{"polluted":1}}', '['.repeat(100_000))) },
          ),
        }),
      ),
    )
    return {
      arbitrary,
      synchronous: true,
      run({ kind: index, payload }): Verdict {
        const kind = kinds[index]!
        const parsed = parseJson(payload, kind.validate, kind.maxBytes)
        assertNoPrototypePollution()
        const tally = counts.get(kind.name)!
        if (!parsed.ok) {
          expect(typeof parsed.error === 'string' && parsed.error.length > 0, `a refused ${kind.name} has no reason`)
          tally.refused++
          return 'refused'
        }
        const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
        expect(size <= kind.maxBytes, `a ${kind.name} of ${size} bytes passed a limit of ${kind.maxBytes}`)
        const again = JSON.parse(JSON.stringify(parsed.value)) as unknown
        expect(kind.validate(again).ok && isDeepStrictEqual(again, parsed.value), `an accepted ${kind.name} does not survive a JSON round trip`)
        tally.accepted++
        return 'accepted'
      },
      report: () => Object.fromEntries(counts),
    }
  },
}
