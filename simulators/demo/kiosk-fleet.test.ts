// The fleet kiosk's connection, against a bare broker on loopback (the null gateway).
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { Socket } from 'node:net'
import { systemClock } from '../../device-protocol/index.js'
import { waitFor } from '../../gateway/testing/wait.js'
import { startNullGateway } from '../load/null-gateway.js'
import { createFleetKiosk } from './kiosk-fleet.js'

t.test('its socket sends at once (no Nagle), like the kiosk daemon, also after it connects again', async (t) => {
  const nullGateway = await startNullGateway()
  t.teardown(() => nullGateway.close())
  const brokerPort = Number(new URL(nullGateway.url).port)
  // Every socket of this process that was told to send at once; the kiosk's are those connected to the broker's port.
  const sentAtOnce = new Set<Socket>()
  const setNoDelay = Socket.prototype.setNoDelay
  Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean) {
    if (noDelay !== false) sentAtOnce.add(this)
    else sentAtOnce.delete(this)
    return setNoDelay.call(this, noDelay)
  }
  t.teardown(() => {
    Socket.prototype.setNoDelay = setNoDelay
  })
  const kioskSockets = () => [...sentAtOnce].filter((s) => s.remotePort === brokerPort && !s.destroyed)

  const kiosk = createFleetKiosk({ kioskId: 'load-1', token: 'unused', privateKey: generateKeyPairSync('ed25519').privateKey, mqttUrl: nullGateway.url, clock: systemClock })
  t.teardown(() => kiosk.close())
  await kiosk.connect()
  const [first] = kioskSockets()
  t.ok(first, "the kiosk's connection to the broker has Nagle off")

  // The connection drops; the kiosk connects again on a new socket, which must send at once too.
  first!.destroy()
  await waitFor(() => kioskSockets().length === 1, 'the new connection', { polls: 500 })
  t.equal(kioskSockets().length, 1, 'the new connection has Nagle off')
  t.not(kioskSockets()[0], first, 'on a new socket')
  // And it still works: a sale is answered over it.
  const outcome = await kiosk.send('sale', '04000000000001', [{ product: 'beer', qty: 1, unitPrice: 450 }], 450)
  t.equal(outcome.result.status, 'accepted')
})
