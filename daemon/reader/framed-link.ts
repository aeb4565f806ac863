// The host side of the framed reader protocol (device-protocol/frame.ts and
// reader-messages.ts) over any byte link: serial lines and BLE (Nordic UART)
// carry the same frames. It turns bytes into reader events, counts every kind
// of line trouble, and matches feedback commands to their acknowledgements.
// The transport adapter owns the connection; this owns one connection's
// protocol state (deframer, pending acks) and is reset for each new one.
import type { Logger } from 'pino'
import {
  MAX_FRAME_BYTES,
  createDeframer,
  decodeFrame,
  decodeReaderMessage,
  encodeFrame,
  encodeReaderMessage,
  type Deframer,
  type ReaderMessage,
} from '../../device-protocol/index.js'
import type { ReaderDeviceInfo, ReaderFeedback } from './reader.js'

export const FRAMED_LINK_COUNTERS = [
  'frames', // frames with a good CRC
  'crcErrors',
  'discardedBytes', // noise, oversize and invalid-COBS bytes
  'oversize', // frames dropped for size
  'malformed', // bad COBS, short/version errors, malformed payloads, wrong-direction messages
  'unknownTypes', // message types this host does not know
  'errors', // handling errors, listeners that threw (the adapter adds its own: port, write errors)
  'deviceErrors', // error reports sent by the reader
  'feedbackTimeouts',
  'unmatchedAcks', // acks for no pending feedback (late, or a confused reader)
] as const
export type FramedLinkCounter = (typeof FRAMED_LINK_COUNTERS)[number]

export interface FramedReaderLinkOptions {
  logger: Logger
  /** The adapter's counters; the link increments its own names in place. */
  counters: Record<FramedLinkCounter, number>
  /** How long feedback() waits for the reader's acknowledgement. */
  ackTimeoutMs: number
  maxFrameBytes?: number
  /** Puts bytes on the link (a whole frame; the adapter chunks if it must). */
  write: (bytes: Buffer) => void
  /** Emits a reader event ('tag', 'tagGone', 'readerError'); the adapter guards its listeners. */
  emit: (event: string, ...args: unknown[]) => void
  /** The reader said hello (identified itself). */
  onDevice: (device: ReaderDeviceInfo) => void
}

export interface FramedReaderLink {
  /** A new connection: fresh deframer, line-trouble warnings re-armed. Pending feedback is not touched (see rejectPending). */
  reset(): void
  /** Bytes from the reader, in any pieces. Never throws. */
  receive(chunk: Uint8Array): void
  /** Asks the reader to say hello. */
  identify(): void
  /** Sends feedback; resolves on the reader's ack of that frame, rejects on bad values or timeout. The adapter checks it is connected first. */
  feedback(feedback: ReaderFeedback): Promise<void>
  /** Fails every feedback awaiting an ack (the connection went away). */
  rejectPending(reason: string): void
}

interface PendingAck {
  resolve: () => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export function createFramedReaderLink(options: FramedReaderLinkOptions): FramedReaderLink {
  const { logger, counters, ackTimeoutMs, maxFrameBytes = MAX_FRAME_BYTES, write, emit, onDevice } = options
  const pending = new Map<number, PendingAck>()
  let deframer: Deframer = createDeframer({ maxFrameBytes })
  let seq = 0
  // Each kind of line trouble is logged at warn once per connection, then at debug:
  // a noisy line must not flood the logs.
  const warned = new Set<string>()

  function lineTrouble(kind: string, detail: Record<string, unknown>, msg: string): void {
    if (warned.has(kind)) {
      logger.debug(detail, msg)
    } else {
      warned.add(kind)
      logger.warn(detail, `${msg} (further ones at debug level)`)
    }
  }

  function nextSeq(): number | null {
    for (let i = 0; i < 256; i++) {
      const candidate = seq
      seq = (seq + 1) & 0xff
      if (!pending.has(candidate)) return candidate
    }
    return null
  }

  function handleMessage(message: ReaderMessage): void {
    switch (message.kind) {
      case 'hello': {
        const device = { model: message.model, firmware: message.firmware, serial: message.serial }
        logger.info({ device }, 'reader identified')
        onDevice(device)
        return
      }
      case 'tagPresent':
        // A secure tag's SUN message goes along untouched: only the gateway can check it.
        emit('tag', { uid: message.uid, type: message.type, ...(message.sun ? { sun: message.sun } : {}) })
        return
      case 'tagGone':
        emit('tagGone', message.uid)
        return
      case 'feedbackAck': {
        const ack = pending.get(message.ackSeq)
        if (!ack) {
          counters.unmatchedAcks++
          logger.debug({ ackSeq: message.ackSeq }, 'acknowledgement for no pending feedback')
          return
        }
        pending.delete(message.ackSeq)
        clearTimeout(ack.timer)
        ack.resolve()
        return
      }
      case 'error':
        counters.deviceErrors++
        logger.warn({ code: message.code, text: message.text }, 'the reader reported an error')
        emit('readerError', new Error(`reader reported error 0x${message.code.toString(16).padStart(2, '0')}: ${message.text}`))
        return
      default:
        // identify / feedback are ours to send, not to receive.
        counters.malformed++
        lineTrouble('direction', { kind: message.kind }, 'host-to-reader message received from the reader')
    }
  }

  function handleBody(body: Buffer): void {
    const frame = decodeFrame(body, maxFrameBytes)
    if (!frame.ok) {
      if (frame.error === 'crc') counters.crcErrors++
      else if (frame.error === 'oversize') counters.oversize++
      else counters.malformed++
      lineTrouble(`frame-${frame.error}`, { error: frame.error, detail: frame.detail }, 'bad frame from the reader dropped')
      return
    }
    counters.frames++
    const decoded = decodeReaderMessage(frame.frame.type, frame.frame.payload)
    if (!decoded.ok) {
      if (decoded.error === 'unknown-type') counters.unknownTypes++
      else counters.malformed++
      lineTrouble(`message-${decoded.error}`, { error: decoded.error, detail: decoded.detail }, 'unusable message from the reader dropped')
      return
    }
    handleMessage(decoded.message)
  }

  return {
    reset() {
      deframer = createDeframer({ maxFrameBytes })
      warned.clear()
    },
    receive(chunk) {
      try {
        const r = deframer.push(chunk)
        counters.discardedBytes += r.discardedBytes
        counters.oversize += r.oversize
        counters.malformed += r.invalid
        if (r.discardedBytes > 0) lineTrouble('noise', { discardedBytes: r.discardedBytes }, 'bytes outside any frame discarded')
        for (const body of r.frames) handleBody(body)
      } catch (err) {
        // Not expected (the codecs do not throw on input), but a reader must never take the daemon down.
        counters.errors++
        logger.error({ err }, 'handling bytes from the reader failed')
      }
    },
    identify() {
      const s = nextSeq()
      if (s !== null) write(encodeFrame({ seq: s, ...encodeReaderMessage({ kind: 'identify' }) }))
    },
    feedback(feedback) {
      let encoded: { type: number; payload: Buffer }
      try {
        encoded = encodeReaderMessage({ kind: 'feedback', led: feedback.led, beep: feedback.beep, durationMs: feedback.durationMs })
      } catch (err) {
        return Promise.reject(err)
      }
      const frameSeq = nextSeq()
      if (frameSeq === null) return Promise.reject(new Error('256 feedback commands await acknowledgement'))
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(frameSeq)
          counters.feedbackTimeouts++
          reject(new Error(`reader did not acknowledge feedback within ${ackTimeoutMs} ms`))
        }, ackTimeoutMs)
        pending.set(frameSeq, { resolve, reject, timer })
        write(encodeFrame({ seq: frameSeq, ...encoded }))
      })
    },
    rejectPending(reason) {
      for (const [, ack] of pending) {
        clearTimeout(ack.timer)
        ack.reject(new Error(reason))
      }
      pending.clear()
    },
  }
}
