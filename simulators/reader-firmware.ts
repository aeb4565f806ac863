// The device side of the serial reader protocol: what the firmware of an NFC
// reader board does, built on the same codecs as the daemon (device-protocol).
// Tests and the demo use it in place of hardware, attached either to
// serialport's MockBinding (in-process) or to one end of a socat pty pair.
import { EventEmitter } from 'node:events'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createMockSerialDevice, type MockBindingInterface, type MockSerialDevice } from './mock-serial-device.js'
import {
  READER_ERROR_CODES,
  cobsEncode,
  createDeframer,
  decodeFrame,
  decodeReaderMessage,
  encodeFrame,
  encodeFrameBody,
  encodeReaderMessage,
  normaliseUid,
  type FeedbackMessage,
  type FrameInput,
  type ReaderToHostMessage,
  type SunPart,
} from '../device-protocol/index.js'
import type { SimulatedNtag424 } from './ntag424-tag.js'

export type { MockBindingInterface, MockPortBinding } from './mock-serial-device.js'

export interface ReaderFirmwareInfo {
  model: string
  firmware: string
  serial: string
}

/** Ways to make the simulated reader a bad citizen, for hostile-input tests. */
export interface Misbehaviour {
  /** Bytes written before every frame (line noise). */
  noiseBeforeFrame?: Uint8Array
  /** Send every frame with a broken CRC. */
  corruptCrc?: boolean
  /** Never acknowledge feedback commands. */
  dropAcks?: boolean
  /** Write each frame in pieces of at most this many bytes. */
  chunkBytes?: number
}

export interface FeedbackRecord {
  /** The host's frame seq, which the ack echoes. */
  seq: number
  led: FeedbackMessage['led']
  beep: FeedbackMessage['beep']
  durationMs: number
}

export interface ReaderFirmwareCounters {
  framesReceived: number
  crcErrors: number
  malformed: number
  discardedBytes: number
  framesSent: number
}

/**
 * Events: 'feedback' (FeedbackRecord) after a feedback command was applied,
 * 'identify' when the host asked for hello, 'hostError' (detail: string) for
 * anything unusable the host sent.
 */
export interface ReaderFirmware extends EventEmitter {
  readonly info: ReaderFirmwareInfo
  readonly feedbackLog: FeedbackRecord[]
  readonly counters: ReaderFirmwareCounters
  /** The tag in the field, if any. */
  readonly currentTag: { uid: string; type: string; sun?: SunPart } | null
  misbehave: Misbehaviour
  /** Bytes from the host. */
  receive(chunk: Uint8Array): void
  /** Power-on / host-connected: sends hello. */
  connect(): void
  /** A tag enters the field (a previous tag, if any, leaves first), with the SUN message it mirrored, if any. */
  present(uid: string, type: string, sun?: SunPart): void
  /** A secure wristband enters the field: the reader reads it (its counter goes up) and reports its new SUN message. */
  presentSecure(tag: SimulatedNtag424): SunPart
  /** The tag leaves the field. */
  remove(): void
  sendMessage(message: ReaderToHostMessage): void
  /** Any frame, including message types the host does not know. */
  sendFrame(frame: Omit<FrameInput, 'seq'>): void
  /** Raw bytes, unframed. */
  sendRaw(bytes: Uint8Array): void
}

export interface ReaderFirmwareOptions extends Partial<ReaderFirmwareInfo> {
  /** Where the firmware's bytes go (the serial line towards the host). */
  write: (bytes: Buffer) => void
  misbehave?: Misbehaviour
}

export function createReaderFirmware(options: ReaderFirmwareOptions): ReaderFirmware {
  const info: ReaderFirmwareInfo = {
    model: options.model ?? 'WP-R1 (simulated)',
    firmware: options.firmware ?? '1.0.0',
    serial: options.serial ?? 'SIM0001',
  }
  const { write } = options
  const deframer = createDeframer()
  const counters: ReaderFirmwareCounters = { framesReceived: 0, crcErrors: 0, malformed: 0, discardedBytes: 0, framesSent: 0 }
  const feedbackLog: FeedbackRecord[] = []
  let seq = 0
  let currentTag: { uid: string; type: string; sun?: SunPart } | null = null

  const emitter = new EventEmitter() as ReaderFirmware
  emitter.misbehave = { ...options.misbehave }

  function writeWire(wire: Buffer): void {
    const { noiseBeforeFrame, chunkBytes } = emitter.misbehave
    const bytes = noiseBeforeFrame && noiseBeforeFrame.length > 0 ? Buffer.concat([noiseBeforeFrame, wire]) : wire
    if (chunkBytes && chunkBytes > 0) {
      for (let i = 0; i < bytes.length; i += chunkBytes) write(bytes.subarray(i, i + chunkBytes))
    } else {
      write(bytes)
    }
  }

  function sendFrame(frame: Omit<FrameInput, 'seq'>): void {
    const input = { ...frame, seq }
    seq = (seq + 1) & 0xff
    counters.framesSent++
    if (emitter.misbehave.corruptCrc) {
      // Break the CRC before COBS, so the frame stays well-formed on the wire.
      const body = encodeFrameBody(input)
      body[body.length - 1] = body[body.length - 1]! ^ 0x01
      writeWire(Buffer.concat([Buffer.of(0), cobsEncode(body), Buffer.of(0)]))
      return
    }
    writeWire(encodeFrame(input))
  }

  function sendMessage(message: ReaderToHostMessage): void {
    sendFrame(encodeReaderMessage(message))
  }

  function reportHostError(code: number, detail: string): void {
    emitter.emit('hostError', detail)
    sendMessage({ kind: 'error', code, text: detail.slice(0, 60) })
  }

  function handleBody(body: Buffer): void {
    const frame = decodeFrame(body)
    if (!frame.ok) {
      if (frame.error === 'crc') counters.crcErrors++
      else counters.malformed++
      reportHostError(READER_ERROR_CODES.badFrame, frame.detail)
      return
    }
    counters.framesReceived++
    const decoded = decodeReaderMessage(frame.frame.type, frame.frame.payload)
    if (!decoded.ok) {
      counters.malformed++
      reportHostError(decoded.error === 'unknown-type' ? READER_ERROR_CODES.unknownMessage : READER_ERROR_CODES.malformedMessage, decoded.detail)
      return
    }
    const message = decoded.message
    switch (message.kind) {
      case 'identify':
        emitter.emit('identify')
        sendMessage({ kind: 'hello', ...info })
        return
      case 'feedback': {
        const record: FeedbackRecord = { seq: frame.frame.seq, led: message.led, beep: message.beep, durationMs: message.durationMs }
        feedbackLog.push(record)
        if (!emitter.misbehave.dropAcks) sendMessage({ kind: 'feedbackAck', ackSeq: frame.frame.seq })
        emitter.emit('feedback', record)
        return
      }
      default:
        // A reader-to-host message coming from the host: wrong direction.
        counters.malformed++
        reportHostError(READER_ERROR_CODES.unknownMessage, `unexpected ${message.kind} from the host`)
    }
  }

  Object.defineProperties(emitter, {
    info: { value: info, enumerable: true },
    feedbackLog: { value: feedbackLog, enumerable: true },
    counters: { value: counters, enumerable: true },
    currentTag: { get: () => currentTag, enumerable: true },
  })

  return Object.assign(emitter, {
    receive(chunk: Uint8Array) {
      const r = deframer.push(chunk)
      counters.discardedBytes += r.discardedBytes
      counters.malformed += r.oversize + r.invalid
      for (const body of r.frames) handleBody(body)
    },
    connect() {
      sendMessage({ kind: 'hello', ...info })
    },
    present(uid: string, type: string, sun?: SunPart) {
      const normal = normaliseUid(uid)
      if (normal === null) throw new RangeError(`uid must be 4, 7 or 10 bytes of hex, got ${JSON.stringify(uid)}`)
      if (currentTag) emitter.remove()
      // Encode before changing state, so an unknown tag type or a bad SUN throws without side effects.
      const encoded = encodeReaderMessage(sun === undefined ? { kind: 'tagPresent', uid: normal, type } : { kind: 'tagPresent', uid: normal, type, sun })
      currentTag = sun === undefined ? { uid: normal, type } : { uid: normal, type, sun }
      sendFrame(encoded)
    },
    presentSecure(tag: SimulatedNtag424) {
      const sun = tag.read()
      emitter.present(tag.uid, tag.type, sun)
      return sun
    },
    remove() {
      if (!currentTag) return
      const { uid } = currentTag
      currentTag = null
      sendMessage({ kind: 'tagGone', uid })
    },
    sendMessage,
    sendFrame,
    sendRaw(bytes: Uint8Array) {
      write(Buffer.from(bytes))
    },
  })
}

// ---- attachment (a): serialport's MockBinding -----------------------------------

export interface MockReaderLink {
  /** Pass to createSerialReader({ binding }) as the host's serial binding. */
  binding: MockBindingInterface
  path: string
  firmware: ReaderFirmware
  /** Is the host's end open right now? */
  readonly hostOpen: boolean
  /** Everything the host wrote to the port since the link was made. */
  readonly recording: Buffer
  /** The cable is pulled: the host's reads fail, opening fails until replug(). */
  unplug(): void
  replug(): void
}

export interface MockReaderLinkOptions extends Omit<ReaderFirmwareOptions, 'write'> {
  path: string
  /** Greet with hello whenever the host opens the port, as boards that reset on DTR do. Default true. */
  helloOnOpen?: boolean
}

/**
 * A simulated reader behind serialport's MockBinding. The returned binding
 * wraps MockBinding: it hands what the host writes to the firmware and injects
 * the firmware's bytes with the mock port's emitData, so the host reads them.
 */
export function createMockReaderLink(options: MockReaderLinkOptions): MockReaderLink {
  const { path, helloOnOpen = true, ...firmwareOptions } = options
  // The firmware exists before the device it writes through; `device` is set right below.
  let device: MockSerialDevice | undefined
  const firmware = createReaderFirmware({ ...firmwareOptions, write: (bytes) => device?.send(bytes) })
  device = createMockSerialDevice({
    path,
    receive: (bytes) => firmware.receive(bytes),
    ...(helloOnOpen ? { onOpen: () => firmware.connect() } : {}),
  })
  const link = device
  return {
    binding: link.binding,
    path,
    firmware,
    get hostOpen() {
      return link.hostOpen
    },
    get recording() {
      return link.recording
    },
    unplug: () => link.unplug(),
    replug: () => link.replug(),
  }
}

// ---- attachment (b): a real serial device, e.g. one end of a socat pty pair ----

export interface SerialReaderDevice {
  firmware: ReaderFirmware
  close(): Promise<void>
}

/** Runs the firmware on a real serial device path (opened with serialport's default binding). */
export async function attachFirmwareToSerialPort(options: Omit<ReaderFirmwareOptions, 'write'> & { path: string; baudRate?: number }): Promise<SerialReaderDevice> {
  const { path, baudRate = 115_200, ...firmwareOptions } = options
  const { SerialPort } = await import('serialport')
  const port = new SerialPort({ path, baudRate, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  const firmware = createReaderFirmware({ ...firmwareOptions, write: (bytes) => void port.write(bytes) })
  port.on('data', (chunk: Buffer) => firmware.receive(chunk))
  // A device has nobody to report to: errors end up in the counters of the host.
  port.on('error', () => {})
  return {
    firmware,
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve()
        port.close(() => resolve())
      }),
  }
}

export interface PtyPair {
  /** The end the daemon opens. */
  hostPath: string
  /** The end the simulated reader opens. */
  devicePath: string
  stop(): Promise<void>
}

/** Is the socat binary installed? */
export function socatAvailable(): boolean {
  const r = spawnSync('socat', ['-V'], { stdio: 'ignore' })
  return r.status === 0
}

/**
 * Two connected pseudo-terminals made by socat, linked at `dir/host` and
 * `dir/device`. Resolves once socat has started copying; rejects if it has
 * not within `startTimeoutMs`.
 */
export function startPtyPair({ dir, startTimeoutMs = 5_000 }: { dir: string; startTimeoutMs?: number }): Promise<PtyPair> {
  const hostPath = `${dir}/host`
  const devicePath = `${dir}/device`
  const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  return new Promise((resolve, reject) => {
    let stderr = ''
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`socat did not start within ${startTimeoutMs} ms: ${stderr.trim()}`))
    }, startTimeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`socat exited with ${code}: ${stderr.trim()}`))
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
      if (stderr.includes('starting data transfer loop')) {
        clearTimeout(timer)
        resolve({ hostPath, devicePath, stop })
      }
    })
  })
}
