// The ECR side of ZVT over TCP, behind the same ZvtLink interface as the serial
// link (zvt-link.ts): TCP already delivers bytes whole and in order, so there is
// no framing, CRC or ACK/NAK byte; an APDU is "delivered" once written. Bytes in
// are cut into APDUs by their length field. A length that cannot be accepted
// puts the stream out of step for good: onStreamBroken drops the connection, and
// the terminal adapter treats it like any lost connection (status enquiry).
import { ZvtApduLengthError, createZvtApduSplitter, type ZvtApduSplitter } from '../../device-protocol/zvt/index.js'
import { ZvtSendError, type ZvtLink, type ZvtLinkCounter } from './zvt-link.js'

export interface ZvtTcpLinkOptions {
  /** Writes to the connection; false: there is none. */
  write: (bytes: Buffer) => boolean
  onApdu: (apdu: Buffer) => void
  onTrouble: (kind: string, detail: string) => void
  /** The byte stream cannot be read on: the connection must be dropped. */
  onStreamBroken: (reason: string) => void
  /** framesReceived / framesSent count APDUs; badFrames counts broken streams. */
  counters: Record<ZvtLinkCounter, number>
  maxApduBytes?: number
}

export function createZvtTcpLink(options: ZvtTcpLinkOptions): ZvtLink {
  const { write, onApdu, onTrouble, onStreamBroken, counters, maxApduBytes } = options
  let splitter: ZvtApduSplitter = createZvtApduSplitter({ maxApduBytes })
  return {
    receive(chunk) {
      let apdus: Buffer[]
      try {
        apdus = splitter.push(chunk)
      } catch (err) {
        if (!(err instanceof ZvtApduLengthError)) throw err
        counters.badFrames++
        onTrouble('bad-length', err.message)
        onStreamBroken(err.message)
        return
      }
      for (const apdu of apdus) {
        counters.framesReceived++
        onApdu(apdu)
      }
    },
    async send(apdu) {
      if (!write(apdu)) throw new ZvtSendError('not connected to the terminal', 'reset')
      counters.framesSent++
    },
    reset() {
      splitter = createZvtApduSplitter({ maxApduBytes })
    },
  }
}
