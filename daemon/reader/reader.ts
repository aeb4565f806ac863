// The one interface every wristband reader adapter implements (serial boards
// now; PC/SC and BLE later). The kiosk flow talks only to this.
import type { EventEmitter } from 'node:events'

export type ReaderKind = 'serial' | 'pcsc' | 'ble' | 'memory'

export interface TagInfo {
  /** Upper-case hex UID. */
  uid: string
  /** Tag family as the reader reports it, e.g. 'ntag215', 'mifare-classic', 'ntag424'. */
  type: string
  /**
   * The SUN message of a secure tag (NTAG 424 DNA), upper-case hex: encrypted
   * PICC data (32 digits) and truncated SDMMAC (16 digits). The kiosk signs it
   * into the transaction; the gateway verifies it.
   */
  sun?: { piccData: string; cmac: string }
}

export type LedColour = 'off' | 'green' | 'red' | 'yellow' | 'blue'
export type BeepPattern = 'none' | 'short' | 'double' | 'long' | 'error'

export interface ReaderFeedback {
  led: LedColour
  beep: BeepPattern
  /** How long the LED stays lit. */
  durationMs: number
}

export interface ReaderDeviceInfo {
  model: string
  firmware: string
  serial: string
}

export interface ReaderStatus {
  kind: ReaderKind
  connected: boolean
  device?: ReaderDeviceInfo
  /** Monotonic counters: frames, crcErrors, discardedBytes, reconnects, errors, ... */
  counters: Record<string, number>
}

/**
 * Events:
 * - 'tag' (tag: TagInfo): a wristband was presented
 * - 'tagGone' (uid: string): it left the field
 * - 'status' (status: ReaderStatus): connected/disconnected/device info changed
 * - 'readerError' (err: Error): something went wrong that the kiosk should show; never fatal
 */
export interface Reader extends EventEmitter {
  readonly kind: ReaderKind
  open(): Promise<void>
  close(): Promise<void>
  /** Sends LED/beep feedback; resolves when the reader acknowledged it, rejects on timeout. */
  feedback(feedback: ReaderFeedback): Promise<void>
  status(): ReaderStatus
}
