// The ECR side of the ZVT serial transport: frames out with ACK/NAK and up to
// three attempts, frames in acknowledged (ACK if good, NAK if damaged). It
// knows nothing of the port: the terminal adapter feeds it bytes and gives it
// a write function, and resets it when the line is lost.
import {
  ZVT_ACK,
  ZVT_MAX_SEND_ATTEMPTS,
  ZVT_NAK,
  createZvtDeframer,
  encodeZvtFrame,
  type ZvtDeframer,
} from '../../device-protocol/zvt/index.js'

export const ZVT_LINK_COUNTERS = [
  'framesReceived', // good frames from the terminal
  'framesSent', // distinct frames we sent (retransmissions not counted)
  'retransmits',
  'naksReceived',
  'naksSent', // damaged frames from the terminal
  'crcErrors',
  'badFrames', // all damaged frames: CRC, oversize, stray DLE, restarted
  'discardedBytes',
  'ackTimeouts', // a frame of ours not acknowledged in time
  'sendFailures', // frames given up after all attempts
  'strayAcks', // ACK/NAK bytes while nothing awaited one
] as const
export type ZvtLinkCounter = (typeof ZVT_LINK_COUNTERS)[number]

export class ZvtSendError extends Error {
  constructor(
    message: string,
    readonly reason: 'nak' | 'timeout' | 'reset',
  ) {
    super(message)
    this.name = 'ZvtSendError'
  }
}

export interface ZvtLink {
  receive(chunk: Uint8Array): void
  /** Sends one APDU; resolves when the terminal acknowledged the frame (06). */
  send(apdu: Buffer): Promise<void>
  /** The line was lost or reopened: drops partial input and fails sends in flight. */
  reset(reason: string): void
}

export interface ZvtLinkOptions {
  write: (bytes: Buffer) => void
  onApdu: (apdu: Buffer) => void
  /** Line trouble worth a log line (kind is stable, detail is for people). */
  onTrouble: (kind: string, detail: string) => void
  counters: Record<ZvtLinkCounter, number>
  ackTimeoutMs: number
  maxApduBytes?: number
}

interface InFlight {
  frame: Buffer
  attempts: number
  timer: NodeJS.Timeout | null
  resolve: () => void
  reject: (err: ZvtSendError) => void
}

export function createZvtLink(options: ZvtLinkOptions): ZvtLink {
  const { write, onApdu, onTrouble, counters, ackTimeoutMs, maxApduBytes } = options
  let deframer: ZvtDeframer = createZvtDeframer({ maxApduBytes })
  let inFlight: InFlight | null = null
  const queue: InFlight[] = []

  function transmit(f: InFlight): void {
    write(f.frame)
    f.timer = setTimeout(() => {
      counters.ackTimeouts++
      onTrouble('ack-timeout', `no ACK within ${ackTimeoutMs} ms (attempt ${f.attempts})`)
      again(f, 'timeout')
    }, ackTimeoutMs)
  }

  function again(f: InFlight, reason: 'nak' | 'timeout'): void {
    if (f.timer) clearTimeout(f.timer)
    f.timer = null
    if (f.attempts >= ZVT_MAX_SEND_ATTEMPTS) {
      counters.sendFailures++
      finish(f, new ZvtSendError(`frame not acknowledged after ${f.attempts} attempts (${reason})`, reason))
      return
    }
    f.attempts++
    counters.retransmits++
    transmit(f)
  }

  function finish(f: InFlight, err?: ZvtSendError): void {
    if (f.timer) clearTimeout(f.timer)
    f.timer = null
    if (inFlight === f) inFlight = null
    if (err) f.reject(err)
    else f.resolve()
    const next = queue.shift()
    if (next && !inFlight) {
      inFlight = next
      transmit(next)
    }
  }

  return {
    receive(chunk) {
      const r = deframer.push(chunk)
      if (r.discardedBytes > 0) {
        counters.discardedBytes += r.discardedBytes
        onTrouble('noise', `${r.discardedBytes} bytes outside any frame discarded`)
      }
      for (const event of r.events) {
        switch (event.kind) {
          case 'ack':
            if (inFlight) finish(inFlight)
            else {
              counters.strayAcks++
              onTrouble('stray-ack', 'ACK while no frame awaited one')
            }
            break
          case 'nak':
            if (inFlight) {
              counters.naksReceived++
              onTrouble('nak', 'the terminal answered NAK; repeating the frame')
              again(inFlight, 'nak')
            } else {
              counters.strayAcks++
              onTrouble('stray-ack', 'NAK while no frame awaited one')
            }
            break
          case 'badFrame':
            counters.badFrames++
            if (event.reason === 'crc') counters.crcErrors++
            counters.naksSent++
            onTrouble(`bad-frame-${event.reason}`, event.detail)
            write(Buffer.of(ZVT_NAK))
            break
          case 'frame':
            counters.framesReceived++
            write(Buffer.of(ZVT_ACK))
            onApdu(event.apdu)
            break
        }
      }
    },
    send(apdu) {
      return new Promise<void>((resolve, reject) => {
        counters.framesSent++
        const f: InFlight = { frame: encodeZvtFrame(apdu), attempts: 1, timer: null, resolve, reject }
        if (inFlight) queue.push(f)
        else {
          inFlight = f
          transmit(f)
        }
      })
    },
    reset(reason) {
      deframer = createZvtDeframer({ maxApduBytes })
      const all = [...(inFlight ? [inFlight] : []), ...queue.splice(0)]
      inFlight = null
      for (const f of all) {
        if (f.timer) clearTimeout(f.timer)
        f.reject(new ZvtSendError(reason, 'reset'))
      }
    },
  }
}
