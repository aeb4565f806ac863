// A contactless tag for vsmartcard's virtual reader (vpcd, a pcscd driver), so
// that the PC/SC adapter runs against the real pcscd + nfc-pcsc stack without
// hardware. vpcd speaks a tiny protocol over TCP: every message carries a
// 2-byte big-endian length; a 1-byte message is a control code (power off/on,
// reset, get ATR), anything longer is a command APDU to answer.
//
// Presence is the connection: vpcd reports a card while a simulator is
// connected and answers "get ATR" (it asks on every poll); when the connection
// closes, pcscd sees the card leave. So insert() connects and remove()
// disconnects.
import { Socket, connect } from 'node:net'
import type { Logger } from 'pino'

export const VPCD_DEFAULT_PORT = 35963
export const VPCD_MAX_MESSAGE_BYTES = 0xffff

/** Control codes vpcd sends as 1-byte messages. */
export const VPCD_CONTROL = { powerOff: 0, powerOn: 1, reset: 2, getAtr: 4 } as const

/**
 * ATR of an NTAG/MIFARE Ultralight tag as a PC/SC reader builds it (PC/SC part 3,
 * 3.1.3.2.3): 3B 8F 80 01 80 4F 0C, RID A0 00 00 03 06, standard 03 (ISO 14443 A
 * part 3), card name 00 03 (Ultralight), RFU, then the check byte.
 */
export const NTAG_ATR = Buffer.from('3B8F8001804F0CA0000003060300030000000068', 'hex')

const SW_OK = Buffer.from([0x90, 0x00])
const SW_WRONG_LENGTH = Buffer.from([0x67, 0x00])
const SW_WRONG_P1P2 = Buffer.from([0x6a, 0x81]) // "function not supported" for GET DATA variants
const SW_INS_NOT_SUPPORTED = Buffer.from([0x6d, 0x00])
const SW_CLA_NOT_SUPPORTED = Buffer.from([0x6e, 0x00])

/** Frames one message with vpcd's 2-byte big-endian length prefix. */
export function encodeVpcdMessage(payload: Buffer): Buffer {
  if (payload.length > VPCD_MAX_MESSAGE_BYTES) throw new RangeError(`vpcd message of ${payload.length} bytes exceeds ${VPCD_MAX_MESSAGE_BYTES}`)
  const header = Buffer.alloc(2)
  header.writeUInt16BE(payload.length)
  return Buffer.concat([header, payload])
}

export interface VpcdDeframer {
  /** Feeds bytes as they arrive (any split); returns the complete messages they finish, in order. */
  push(chunk: Buffer): Buffer[]
  /** Bytes held back waiting for the rest of a message. */
  readonly pendingBytes: number
}

export function createVpcdDeframer(): VpcdDeframer {
  let buffer = Buffer.alloc(0)
  return {
    push(chunk) {
      buffer = buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffer, chunk])
      const messages: Buffer[] = []
      // Bounded: every turn consumes at least the 2-byte header.
      while (buffer.length >= 2) {
        const length = buffer.readUInt16BE(0)
        if (buffer.length < 2 + length) break
        messages.push(Buffer.from(buffer.subarray(2, 2 + length)))
        buffer = buffer.subarray(2 + length)
      }
      return messages
    },
    get pendingBytes() {
      return buffer.length
    },
  }
}

export interface VirtualTag {
  uid: Buffer
  atr: Buffer
}

/**
 * The tag's answer to one message from vpcd, or null when vpcd expects none
 * (power on/off and reset are not answered). Pure, so the card logic is tested
 * without sockets.
 */
export function answerVpcdMessage(message: Buffer, tag: VirtualTag): Buffer | null {
  if (message.length === 0) return null
  if (message.length === 1) {
    return message[0] === VPCD_CONTROL.getAtr ? tag.atr : null
  }
  if (message.length < 4) return SW_WRONG_LENGTH
  const [cla, ins, p1, p2] = message
  if (cla !== 0xff) return SW_CLA_NOT_SUPPORTED
  if (ins === 0xca) {
    // GET DATA (PC/SC part 3): P1 00 = UID; P1 01 (ATS) is not offered by a part-3 tag.
    if (p1 !== 0x00 || p2 !== 0x00) return SW_WRONG_P1P2
    const le = message.length >= 5 ? message[4]! : 0
    if (le !== 0 && le < tag.uid.length) return Buffer.from([0x6c, tag.uid.length]) // wrong Le: here is the right one
    return Buffer.concat([tag.uid, SW_OK])
  }
  // ACR122U bi-colour LED and buzzer control (FF 00 40 P2 04 T1 T2 reps link): the
  // reader intercepts it; answering 90 00 lets tests drive the feedback path.
  if (ins === 0x00 && p1 === 0x40) return message.length === 9 ? SW_OK : SW_WRONG_LENGTH
  return SW_INS_NOT_SUPPORTED
}

/** Parses a UID in hex (4, 7 or 10 bytes, as ISO 14443 A defines them). */
export function parseVirtualUid(uid: string): Buffer {
  const hex = uid.replace(/[\s:]/g, '')
  if (!/^([0-9a-fA-F]{8}|[0-9a-fA-F]{14}|[0-9a-fA-F]{20})$/.test(hex)) throw new TypeError(`uid must be 4, 7 or 10 bytes of hex, got ${JSON.stringify(uid)}`)
  return Buffer.from(hex, 'hex')
}

export interface VpcdCardOptions {
  /** The UID the tag reports, in hex. */
  uid: string
  atr?: Buffer
  /** vpcd's TCP endpoint (vpcd in server mode listens on all addresses; use 127.0.0.1). */
  host?: string
  port?: number
  /** A Unix socket instead of TCP, e.g. the bridge simulators/pcscd.ts offers into a private network namespace. */
  path?: string
  /** Whether the tag starts in the field. Default true. */
  present?: boolean
  /** Pause before connecting again after vpcd (or pcscd) went away while the tag should be present. */
  retryDelayMs?: number
  logger?: Logger
}

export interface VpcdCard {
  /** Puts a tag in the field (optionally with a new UID); resolves once connected to vpcd. */
  insert(uid?: string): Promise<void>
  /** Takes the tag out of the field: closes the connection. */
  remove(): Promise<void>
  /** remove(), and stop for good. */
  close(): Promise<void>
  /** Every command APDU vpcd sent (control codes are not logged). */
  readonly apduLog: Buffer[]
  readonly uid: string
  /** Connected to vpcd right now. */
  readonly connected: boolean
  /** How many connections to vpcd were made. */
  readonly connections: number
}

export async function startVpcdCard(options: VpcdCardOptions): Promise<VpcdCard> {
  const { host = '127.0.0.1', port = VPCD_DEFAULT_PORT, path, retryDelayMs = 200, logger } = options
  const atr = options.atr ?? NTAG_ATR
  let uid = parseVirtualUid(options.uid)
  const apduLog: Buffer[] = []
  let wanted = false // the tag should be in the field
  let closed = false
  let socket: Socket | null = null
  let connected = false
  let connections = 0
  let retryTimer: NodeJS.Timeout | null = null
  let waiters: Array<() => void> = []

  function settleWaiters(): void {
    const w = waiters
    waiters = []
    for (const resolve of w) resolve()
  }

  function dial(): void {
    if (!wanted || closed || socket) return
    const s = path ? connect({ path }) : connect({ host, port })
    socket = s
    const deframer = createVpcdDeframer()
    s.on('connect', () => {
      connected = true
      connections++
      logger?.debug({ uid: uid.toString('hex') }, 'virtual tag connected to vpcd')
      settleWaiters()
    })
    s.on('data', (chunk: Buffer) => {
      for (const message of deframer.push(chunk)) {
        if (message.length > 1) apduLog.push(message)
        const answer = answerVpcdMessage(message, { uid, atr })
        if (answer) s.write(encodeVpcdMessage(answer))
      }
    })
    s.on('error', (err) => logger?.debug({ err: err.message }, 'virtual tag connection error'))
    s.on('close', () => {
      if (socket === s) socket = null
      connected = false
      // vpcd or pcscd went away while the tag should stay: come back when they do.
      if (wanted && !closed && !retryTimer) {
        retryTimer = setTimeout(() => {
          retryTimer = null
          dial()
        }, retryDelayMs)
      }
    })
  }

  async function disconnect(): Promise<void> {
    wanted = false
    if (retryTimer) clearTimeout(retryTimer)
    retryTimer = null
    const s = socket
    socket = null
    connected = false
    settleWaiters()
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve())
        s.destroy()
      })
    }
  }

  const card: VpcdCard = {
    async insert(newUid?: string) {
      if (closed) throw new Error('virtual tag closed')
      if (newUid !== undefined) {
        const parsed = parseVirtualUid(newUid)
        if (!parsed.equals(uid) && socket) await disconnect() // a different tag: the old one leaves first
        uid = parsed
      }
      if (connected) return
      wanted = true
      const done = new Promise<void>((resolve) => waiters.push(resolve))
      dial()
      await done
    },
    remove: disconnect,
    async close() {
      closed = true
      await disconnect()
    },
    apduLog,
    get uid() {
      return uid.toString('hex').toUpperCase()
    },
    get connected() {
      return connected
    },
    get connections() {
      return connections
    },
  }
  // Not awaited: the tag may be created before vpcd listens (insert() resolves once connected).
  if (options.present ?? true) void card.insert()
  return card
}
