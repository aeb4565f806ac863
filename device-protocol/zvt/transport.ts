// ZVT transport layer for serial lines (RS-232 / USB CDC). Pure.
//
// A frame on the wire is
//   DLE STX  <APDU, every DLE doubled>  DLE ETX  CRC-lo CRC-hi
// The CRC is CRC-16 with the reflected polynomial 0x8408 (CCITT 0x1021
// reflected), initial value 0, no final xor, over the unstuffed APDU bytes
// followed by ETX, sent low byte first. That is the CRC-16/KERMIT model (check
// value of "123456789" is 0x2189), so the `crc` package's crc16kermit computes it.
// The receiver answers every frame with a single byte: ACK 06 if it is good,
// NAK 15 if not; the sender repeats a frame up to 3 times on NAK or silence.
import crc16kermit from 'crc/crc16kermit'

export const ZVT_DLE = 0x10
export const ZVT_STX = 0x02
export const ZVT_ETX = 0x03
export const ZVT_ACK = 0x06
export const ZVT_NAK = 0x15
/** A sender tries a frame at most this many times in all (first try + retransmissions). */
export const ZVT_MAX_SEND_ATTEMPTS = 3
/** Largest APDU either side accepts by default (ZVT allows up to 65,535 + header). */
export const ZVT_DEFAULT_MAX_APDU_BYTES = 4096

/** The CRC of a frame: over the APDU (unstuffed) and the ETX byte. */
export function zvtCrc(apdu: Uint8Array): number {
  return crc16kermit(Buffer.of(ZVT_ETX), crc16kermit(Buffer.from(apdu)))
}

/** Doubles every DLE in the APDU. */
export function stuffDle(apdu: Uint8Array): Buffer {
  const out: number[] = []
  for (const b of apdu) {
    out.push(b)
    if (b === ZVT_DLE) out.push(ZVT_DLE)
  }
  return Buffer.from(out)
}

/** A whole frame ready for the wire. */
export function encodeZvtFrame(apdu: Uint8Array): Buffer {
  const crc = zvtCrc(apdu)
  return Buffer.concat([Buffer.of(ZVT_DLE, ZVT_STX), stuffDle(apdu), Buffer.of(ZVT_DLE, ZVT_ETX, crc & 0xff, crc >> 8)])
}

export type ZvtLinkEvent =
  | { kind: 'frame'; apdu: Buffer }
  | { kind: 'ack' }
  | { kind: 'nak' }
  /** A frame that cannot be used; the receiver should answer NAK. */
  | { kind: 'badFrame'; reason: 'crc' | 'oversize' | 'stray-dle' | 'restarted'; detail: string }

export interface ZvtDeframeResult {
  events: ZvtLinkEvent[]
  /** Bytes outside any frame that were neither ACK nor NAK: line noise. */
  discardedBytes: number
}

export interface ZvtDeframer {
  push(chunk: Uint8Array): ZvtDeframeResult
  /** True while part of a frame has been received. */
  readonly inFrame: boolean
}

type State = 'idle' | 'dle' | 'data' | 'data-dle' | 'crc-lo' | 'crc-hi' | 'skip' | 'skip-dle' | 'skip-crc-lo' | 'skip-crc-hi'

/**
 * Incremental receiver: feed it chunks as they come (split anywhere) and it
 * returns frames, single-byte ACK/NAK outside frames, and bad frames. Bytes
 * 06 and 15 inside a frame are data, not acknowledgements. It never throws on
 * input and resynchronises at the next DLE STX after any damage.
 */
export function createZvtDeframer({ maxApduBytes = ZVT_DEFAULT_MAX_APDU_BYTES }: { maxApduBytes?: number } = {}): ZvtDeframer {
  let state: State = 'idle'
  let apdu: number[] = []
  let crcLo = 0

  function push(chunk: Uint8Array): ZvtDeframeResult {
    const events: ZvtLinkEvent[] = []
    let discardedBytes = 0

    const idleByte = (b: number) => {
      if (b === ZVT_DLE) state = 'dle'
      else if (b === ZVT_ACK) events.push({ kind: 'ack' })
      else if (b === ZVT_NAK) events.push({ kind: 'nak' })
      else discardedBytes++
    }

    for (const b of chunk) {
      switch (state) {
        case 'idle':
          idleByte(b)
          break
        case 'dle':
          if (b === ZVT_STX) {
            state = 'data'
            apdu = []
          } else {
            discardedBytes++ // the DLE was noise
            state = 'idle'
            idleByte(b)
          }
          break
        case 'data':
          if (b === ZVT_DLE) state = 'data-dle'
          else if (apdu.length >= maxApduBytes) {
            state = 'skip'
            events.push({ kind: 'badFrame', reason: 'oversize', detail: `APDU longer than ${maxApduBytes} bytes` })
          } else apdu.push(b)
          break
        case 'data-dle':
          if (b === ZVT_DLE) {
            if (apdu.length >= maxApduBytes) {
              state = 'skip'
              events.push({ kind: 'badFrame', reason: 'oversize', detail: `APDU longer than ${maxApduBytes} bytes` })
            } else {
              apdu.push(ZVT_DLE)
              state = 'data'
            }
          } else if (b === ZVT_ETX) state = 'crc-lo'
          else if (b === ZVT_STX) {
            // The sender started over (e.g. a retransmission after a cut line).
            events.push({ kind: 'badFrame', reason: 'restarted', detail: `DLE STX inside a frame after ${apdu.length} bytes` })
            apdu = []
            state = 'data'
          } else {
            events.push({ kind: 'badFrame', reason: 'stray-dle', detail: `DLE followed by 0x${b.toString(16).padStart(2, '0')} inside a frame` })
            state = 'idle'
            idleByte(b)
          }
          break
        case 'crc-lo':
          crcLo = b
          state = 'crc-hi'
          break
        case 'crc-hi': {
          const data = Buffer.from(apdu)
          apdu = []
          state = 'idle'
          const received = crcLo | (b << 8)
          const expected = zvtCrc(data)
          if (received === expected) events.push({ kind: 'frame', apdu: data })
          else events.push({ kind: 'badFrame', reason: 'crc', detail: `CRC 0x${received.toString(16).padStart(4, '0')} where 0x${expected.toString(16).padStart(4, '0')} was expected` })
          break
        }
        // Skipping the rest of an oversize frame, still honouring stuffing, so
        // that DLE STX inside its data cannot start a false frame.
        case 'skip':
          if (b === ZVT_DLE) state = 'skip-dle'
          break
        case 'skip-dle':
          if (b === ZVT_ETX) state = 'skip-crc-lo'
          else if (b === ZVT_STX) {
            apdu = []
            state = 'data'
          } else state = 'skip'
          break
        case 'skip-crc-lo':
          state = 'skip-crc-hi'
          break
        case 'skip-crc-hi':
          apdu = []
          state = 'idle'
          break
      }
    }
    return { events, discardedBytes }
  }

  return {
    push,
    get inFrame() {
      return state !== 'idle' && state !== 'dle'
    },
  }
}
