// An in-process Reader for unit tests of the kiosk flow: the test presents and
// removes tags by calling methods, and reads the feedback the kiosk gave.
import { EventEmitter } from 'node:events'
import { normaliseUid } from '../../device-protocol/index.js'
import type { Reader, ReaderDeviceInfo, ReaderFeedback, ReaderStatus, TagInfo } from './reader.js'

export interface MemoryReader extends Reader {
  /** The feedback the kiosk sent, in order (acknowledged or not): the last `feedbackLogLimit` of them. */
  readonly feedbackLog: ReaderFeedback[]
  /** The tag in the field, if any. */
  readonly currentTag: TagInfo | null
  /** A tag enters the field (a previous tag, if any, leaves first). Throws on a uid that is not 4, 7 or 10 bytes of hex. */
  present(uid: string, type: string): void
  /** The tag leaves the field. */
  remove(): void
  /** Whether someone waits for the next tag (the kiosk, while it waits for a tap): a tag is reported once, as it arrives. */
  awaitingTag(): boolean
  /** Plugs or unplugs the simulated reader (emits 'status'). */
  setConnected(connected: boolean): void
  /** While set, feedback() rejects with this error (as a serial reader does on an ack timeout). */
  failFeedbackWith: Error | null
}

export interface MemoryReaderOptions {
  device?: ReaderDeviceInfo
  /** Whether the reader counts as connected before open(). Default false: open() connects it. */
  connected?: boolean
  /**
   * How many feedbacks feedbackLog keeps (the oldest go first), default 1,000: the
   * demo and the growth bench's till sell for hours through this reader, and a log
   * of every feedback would grow the daemon's heap with every sale.
   */
  feedbackLogLimit?: number
}

export const DEFAULT_FEEDBACK_LOG_LIMIT = 1_000

export function createMemoryReader(options: MemoryReaderOptions = {}): MemoryReader {
  const device: ReaderDeviceInfo = options.device ?? { model: 'memory', firmware: '0', serial: 'MEM0001' }
  let connected = options.connected ?? false
  let currentTag: TagInfo | null = null
  const counters = { tags: 0, feedbacks: 0 }
  const feedbackLog: ReaderFeedback[] = []
  const feedbackLogLimit = options.feedbackLogLimit ?? DEFAULT_FEEDBACK_LOG_LIMIT
  if (!Number.isSafeInteger(feedbackLogLimit) || feedbackLogLimit < 0) throw new RangeError(`feedbackLogLimit must be a non-negative integer, got ${feedbackLogLimit}`)
  const reader = new EventEmitter() as MemoryReader

  function status(): ReaderStatus {
    return { kind: 'memory', connected, ...(connected ? { device: { ...device } } : {}), counters: { ...counters } }
  }

  function setConnected(value: boolean): void {
    if (connected === value) return
    connected = value
    if (!value) currentTag = null
    reader.emit('status', status())
  }

  Object.defineProperty(reader, 'currentTag', { get: () => currentTag, enumerable: true })

  return Object.assign(reader, {
    kind: 'memory' as const,
    feedbackLog,
    failFeedbackWith: null as Error | null,
    status,
    setConnected,
    async open() {
      setConnected(true)
    },
    async close() {
      setConnected(false)
    },
    async feedback(feedback: ReaderFeedback) {
      if (!connected) throw new Error('reader not connected')
      feedbackLog.push({ ...feedback })
      if (feedbackLog.length > feedbackLogLimit) feedbackLog.splice(0, feedbackLog.length - feedbackLogLimit)
      counters.feedbacks++
      if (reader.failFeedbackWith) throw reader.failFeedbackWith
    },
    awaitingTag: () => reader.listenerCount('tag') > 0,
    present(uid: string, type: string) {
      const normal = normaliseUid(uid)
      if (normal === null) throw new RangeError(`uid must be 4, 7 or 10 bytes of hex, got ${JSON.stringify(uid)}`)
      if (!connected) throw new Error('memory reader is not connected: call open() first')
      if (currentTag) reader.remove()
      currentTag = { uid: normal, type }
      counters.tags++
      reader.emit('tag', { ...currentTag })
    },
    remove() {
      if (!currentTag) return
      const { uid } = currentTag
      currentTag = null
      reader.emit('tagGone', uid)
    },
  })
}
