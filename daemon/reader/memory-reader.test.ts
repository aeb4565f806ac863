import t from 'tap'
import { createMemoryReader, DEFAULT_FEEDBACK_LOG_LIMIT } from './memory-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

t.test('open connects; present and remove emit tag and tagGone with an upper-case uid', async (t) => {
  const reader = createMemoryReader()
  const statuses: ReaderStatus[] = []
  const tags: TagInfo[] = []
  const gone: string[] = []
  reader.on('status', (s: ReaderStatus) => statuses.push(s))
  reader.on('tag', (tag: TagInfo) => tags.push(tag))
  reader.on('tagGone', (uid: string) => gone.push(uid))
  t.equal(reader.kind, 'memory')
  t.equal(reader.status().connected, false)
  await reader.open()
  t.match(statuses, [{ kind: 'memory', connected: true, device: { model: 'memory' } }])
  reader.present('04a1b2c3d4e5f6', 'ntag215')
  t.same(reader.currentTag, { uid: '04A1B2C3D4E5F6', type: 'ntag215' })
  reader.present('DEADBEEF', 'mifare-classic') // the first tag leaves first
  reader.remove()
  reader.remove()
  t.same(tags, [
    { uid: '04A1B2C3D4E5F6', type: 'ntag215' },
    { uid: 'DEADBEEF', type: 'mifare-classic' },
  ])
  t.same(gone, ['04A1B2C3D4E5F6', 'DEADBEEF'])
  t.equal(reader.currentTag, null)
  await reader.close()
  t.equal(reader.status().connected, false)
})

t.test('feedback is logged; it can be made to fail; a closed reader refuses it', async (t) => {
  const reader = createMemoryReader({ connected: true })
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 1500 })
  reader.failFeedbackWith = new Error('reader did not acknowledge feedback within 1000 ms')
  await t.rejects(reader.feedback({ led: 'red', beep: 'error', durationMs: 1500 }), /did not acknowledge/)
  t.same(reader.feedbackLog, [
    { led: 'green', beep: 'short', durationMs: 1500 },
    { led: 'red', beep: 'error', durationMs: 1500 },
  ])
  await reader.close()
  await t.rejects(reader.feedback({ led: 'off', beep: 'none', durationMs: 0 }), /not connected/)
  t.equal(reader.feedbackLog.length, 2)
})

t.test('the feedback log keeps the last feedbackLogLimit feedbacks, so a reader that sells for hours does not grow', async (t) => {
  const reader = createMemoryReader({ connected: true, feedbackLogLimit: 3 })
  for (let durationMs = 1; durationMs <= 10; durationMs++) await reader.feedback({ led: 'green', beep: 'short', durationMs })
  t.same(
    reader.feedbackLog.map((f) => f.durationMs),
    [8, 9, 10],
  )
  const byDefault = createMemoryReader({ connected: true })
  for (let i = 0; i < DEFAULT_FEEDBACK_LOG_LIMIT + 5; i++) await byDefault.feedback({ led: 'green', beep: 'short', durationMs: i })
  t.equal(byDefault.feedbackLog.length, DEFAULT_FEEDBACK_LOG_LIMIT)
  t.equal(byDefault.feedbackLog.at(-1)!.durationMs, DEFAULT_FEEDBACK_LOG_LIMIT + 4)
  t.throws(() => createMemoryReader({ feedbackLogLimit: -1 }), RangeError)
})

t.test('bad uids and a disconnected reader are refused', async (t) => {
  const reader = createMemoryReader()
  t.throws(() => reader.present('DEADBEEF', 'ntag215'), /not connected/)
  await reader.open()
  t.throws(() => reader.present('xyz', 'ntag215'), RangeError)
  t.throws(() => reader.present('010203', 'ntag215'), RangeError)
  t.equal(reader.currentTag, null)
  reader.present('DEADBEEF', 'ntag215')
  const gone: string[] = []
  reader.on('tagGone', (uid: string) => gone.push(uid))
  reader.setConnected(false)
  t.equal(reader.currentTag, null, 'unplugging clears the field')
  t.same(gone, [], 'no tagGone from a reader that is gone')
})

t.test('awaitingTag tells whether someone waits for the next tag (a tag is reported once, as it arrives)', async (t) => {
  const reader = createMemoryReader()
  await reader.open()
  t.equal(reader.awaitingTag(), false, 'nobody waits')
  const seen: string[] = []
  const onTag = (tag: { uid: string }) => seen.push(tag.uid)
  reader.on('tag', onTag)
  t.equal(reader.awaitingTag(), true, 'a listener waits')
  reader.present('04A1B2C3D4E5F6', 'ntag215')
  reader.off('tag', onTag)
  t.equal(reader.awaitingTag(), false)
  reader.remove()
  reader.present('04B0B0B0B0B0B0', 'ntag215')
  t.same(seen, ['04A1B2C3D4E5F6'], 'a tag presented while nobody waits is not seen later')
})
