// ZVT over TCP (port 20007 on most LAN terminals): no DLE/STX framing, no CRC
// and no ACK/NAK bytes; the stream carries APDUs back to back, each delimited
// by its own length field (one byte, or FF and two bytes low byte first). The
// splitter turns bytes in any chunks into whole APDUs. Pure.
//
// A TCP stream cannot resynchronise: once a length cannot be accepted, every
// later byte is read in the wrong place. So an unacceptable length is a named
// error and the splitter stays failed; the caller drops the connection.
import { ZVT_DEFAULT_MAX_APDU_BYTES } from './transport.js'

/** The default port of ZVT over TCP. */
export const ZVT_TCP_DEFAULT_PORT = 20007

export class ZvtApduLengthError extends Error {
  constructor(
    readonly lengthBytes: number,
    readonly maxApduBytes: number,
  ) {
    super(`APDU of ${lengthBytes} bytes announced; at most ${maxApduBytes} accepted`)
    this.name = 'ZvtApduLengthError'
  }
}

export interface ZvtApduSplitter {
  /** Whole APDUs (header included) completed by this chunk. Throws ZvtApduLengthError, then on every later push. */
  push(chunk: Uint8Array): Buffer[]
  /** Bytes held of an APDU not yet complete. */
  readonly bufferedBytes: number
}

/** Total APDU size (header + data) announced by the header at the start of `buf`; null: header incomplete. */
function announcedApduBytes(buf: Buffer): number | null {
  if (buf.length < 3) return null
  if (buf[2] !== 0xff) return 3 + buf[2]!
  if (buf.length < 5) return null
  return 5 + buf.readUInt16LE(3)
}

export function createZvtApduSplitter({ maxApduBytes = ZVT_DEFAULT_MAX_APDU_BYTES }: { maxApduBytes?: number } = {}): ZvtApduSplitter {
  if (!Number.isInteger(maxApduBytes) || maxApduBytes < 3) throw new RangeError(`maxApduBytes must be at least 3, got ${maxApduBytes}`)
  // Never holds more than one APDU's worth (at most maxApduBytes): a complete one is cut off at once.
  let pending: Buffer = Buffer.alloc(0)
  let failed: ZvtApduLengthError | null = null
  return {
    get bufferedBytes() {
      return pending.length
    },
    push(chunk) {
      if (failed) throw failed
      const apdus: Buffer[] = []
      let input = Buffer.from(chunk)
      while (input.length > 0 || pending.length > 0) {
        // Take only what the current APDU needs, so the buffer stays bounded whatever the chunk size.
        const need = announcedApduBytes(pending)
        if (need === null) {
          const headerWanted = pending.length < 3 ? 3 : 5
          if (input.length === 0) break
          const take = Math.min(headerWanted - pending.length, input.length)
          pending = Buffer.concat([pending, input.subarray(0, take)])
          input = input.subarray(take)
          continue
        }
        if (need > maxApduBytes) {
          failed = new ZvtApduLengthError(need, maxApduBytes)
          pending = Buffer.alloc(0)
          throw failed
        }
        if (pending.length === need) {
          apdus.push(pending)
          pending = Buffer.alloc(0)
          continue
        }
        if (input.length === 0) break
        const take = Math.min(need - pending.length, input.length)
        pending = Buffer.concat([pending, input.subarray(0, take)])
        input = input.subarray(take)
      }
      return apdus
    },
  }
}
