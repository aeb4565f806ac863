// The kiosk's link to the simulated broker: the KioskLink the kiosk core
// talks to (daemon/kiosk/types.ts), with mqtt-link.ts's behaviour where the
// protocol depends on it: ready only while connected, the send gate (the
// chain guard) holds transactions back, every (re)connect sends the whole
// outbox again in seq order, replies are validated before anyone sees them,
// and a lost connection is retried with mqtt-link's own backoff
// (reconnectDelayMs). MQTT itself (packets, acks, sockets) is the network's.
import { parseJson, validateReply, type Envelope, type KioskQuery, type ReplyMessage } from '../../device-protocol/index.js'
import type { KioskLink } from '../../daemon/kiosk.js'
import { DEFAULT_BACKOFF, reconnectDelayMs } from '../../daemon/mqtt-link.js'
import type { Outbox } from '../../daemon/outbox.js'
import type { SimNetwork, LinkEnd } from './network.js'
import type { Prng } from './prng.js'
import type { Owner } from './scheduler.js'

export interface SimLink extends KioskLink {
  start(): void
  /** The process is gone: no more reconnects; the broker notices the connection drop. */
  kill(): void
  malformedReplies(): number
}

export interface SimLinkOptions {
  kioskId: string
  outbox: Pick<Outbox, 'pending'>
  network: SimNetwork
  owner: Owner
  random: Prng
}

export function createSimLink(options: SimLinkOptions): SimLink {
  const { kioskId, outbox, network, owner, random } = options
  const replyListeners: Array<(reply: ReplyMessage) => void> = []
  const readyListeners: Array<(ready: boolean) => void> = []
  let sendGate: () => boolean = () => true
  let ready = false
  let connection: number | undefined
  let connecting = false
  let attempt = 0
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let malformed = 0
  let killed = false

  function setReady(value: boolean): void {
    if (ready === value) return
    ready = value
    for (const listener of readyListeners) listener(value)
  }

  function connect(): void {
    if (killed || connecting || connection !== undefined) return
    connecting = true
    network.connect(kioskId, end)
  }

  function scheduleReconnect(): void {
    if (killed || reconnectTimer !== undefined) return
    const delayMs = reconnectDelayMs(attempt, DEFAULT_BACKOFF, random.next())
    attempt += 1
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined
      connect()
    }, delayMs)
  }

  function resendPending(fromSeq = 1): number {
    if (!ready || connection === undefined || !sendGate()) return 0
    const entries = outbox.pending({ fromSeq })
    for (const entry of entries) network.publishUp(kioskId, connection, 'tx', JSON.stringify(entry.envelope))
    return entries.length
  }

  const end: LinkEnd = {
    owner,
    connected(id) {
      connecting = false
      if (killed) return
      connection = id
      attempt = 0
      setReady(true)
      resendPending()
    },
    connectFailed() {
      connecting = false
      scheduleReconnect()
    },
    lost() {
      if (connection === undefined) return
      connection = undefined
      setReady(false)
      scheduleReconnect()
    },
    deliver(payload) {
      if (killed) return
      const parsed = parseJson(payload, validateReply)
      if (!parsed.ok) {
        malformed += 1
        return
      }
      for (const listener of replyListeners) listener(parsed.value)
    },
  }

  return {
    start: connect,
    kill() {
      killed = true
      if (reconnectTimer !== undefined) clearTimeout(reconnectTimer)
      if (connection !== undefined) network.disconnect(kioskId, connection)
      connection = undefined
      ready = false
    },
    malformedReplies: () => malformed,
    isReady: () => ready,
    publishTx(envelope: Envelope) {
      if (!ready || connection === undefined || !sendGate()) return false
      network.publishUp(kioskId, connection, 'tx', JSON.stringify(envelope))
      return true
    },
    publishQuery(query: KioskQuery) {
      if (!ready || connection === undefined) return false
      network.publishUp(kioskId, connection, 'query', JSON.stringify(query))
      return true
    },
    resendPending,
    setSendGate(gate) {
      sendGate = gate
    },
    onReply: (listener) => void replyListeners.push(listener),
    onReadyChange: (listener) => void readyListeners.push(listener),
  }
}
