// Test-only: a Reader that tests drive by hand (tap a tag, see the feedback).
import { EventEmitter } from 'node:events'
import type { Reader, ReaderFeedback, ReaderStatus, TagInfo } from '../reader/reader.js'

export class FakeReader extends EventEmitter implements Reader {
  readonly kind = 'memory' as const
  connected = false
  readonly feedbacks: ReaderFeedback[] = []
  /** Makes feedback() reject, as a reader that does not acknowledge would. */
  failFeedback = false

  async open(): Promise<void> {
    this.connected = true
    this.emit('status', this.status())
  }

  async close(): Promise<void> {
    this.connected = false
    this.emit('status', this.status())
  }

  async feedback(feedback: ReaderFeedback): Promise<void> {
    this.feedbacks.push(feedback)
    if (this.failFeedback) throw new Error('reader did not acknowledge')
  }

  status(): ReaderStatus {
    return { kind: 'memory', connected: this.connected, counters: { taps: this.listenerCount('tag') } }
  }

  tap(tag: TagInfo): void {
    this.emit('tag', tag)
  }

  /** Resolves once somebody waits for a tag (the kiosk started an operation). */
  async waitForListener(): Promise<void> {
    if (this.listenerCount('tag') > 0) return
    await new Promise<void>((resolve) => {
      const onNew = (event: string | symbol) => {
        if (event !== 'tag') return
        this.off('newListener', onNew)
        resolve()
      }
      this.on('newListener', onNew)
    })
  }

  /** Taps as soon as the kiosk waits for a tag. */
  async tapWhenReady(tag: TagInfo): Promise<void> {
    await this.waitForListener()
    this.tap(tag)
  }
}
