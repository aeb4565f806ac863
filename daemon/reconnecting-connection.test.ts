// The retry plumbing of the serial and TCP connections, with a fake connection:
// failed attempts are counted in a row (the TCP connection's backoff grows with
// them), a loss retries and counts the reconnection, close() during an attempt
// releases what it made.
import t from 'tap'
import { createReconnectingConnection, type ReconnectingOptions } from './reconnecting-connection.js'
import { waitUntil } from './testing/wait.js'

interface Fake {
  id: number
}

function harness(outcomes: Array<'fail' | 'ok'>) {
  const counters = { reconnects: 0, openFailures: 0 }
  const delaysAsked: number[] = []
  const failures: number[] = []
  const attached: number[] = []
  const released: number[] = []
  const lostErrors: Array<string | null> = []
  let next = 0
  let loseCurrent: ((err: Error | null) => void) | null = null
  let gate: Promise<void> = Promise.resolve()
  const options: ReconnectingOptions<Fake> = {
    counters,
    async connect() {
      await gate
      const id = next++
      if ((outcomes[id] ?? 'ok') === 'fail') throw new Error(`attempt ${id} failed`)
      return { id }
    },
    release: async (c) => void released.push(c.id),
    retryDelayMs: (failuresInARow) => (delaysAsked.push(failuresInARow), 0),
    failed: (_message, failuresInARow) => void failures.push(failuresInARow),
    attach(c, lost) {
      attached.push(c.id)
      loseCurrent = lost
    },
    lost: (err) => void lostErrors.push(err?.message ?? null),
  }
  const setGate = (g: Promise<void>) => void (gate = g)
  return { counters, delaysAsked, failures, attached, released, lostErrors, options, setGate, lose: (err: Error | null) => loseCurrent!(err) }
}

t.test('failures in a row are counted for the pause; a success ends the streak and a loss retries at once', async (t) => {
  const h = harness(['fail', 'fail', 'fail', 'ok', 'fail', 'ok'])
  const connection = createReconnectingConnection(h.options)
  await connection.open()
  await waitUntil(() => h.attached.length === 1, 'the fourth attempt connects')
  t.same(h.failures, [1, 2, 3])
  t.same(h.delaysAsked, [1, 2, 3])
  t.same(connection.current, { id: 3 })
  t.equal(h.counters.openFailures, 3)
  t.equal(h.counters.reconnects, 0, 'a first connection is not a reconnection')

  h.lose(new Error('cable'))
  t.equal(connection.current, null)
  t.same(h.lostErrors, ['cable'])
  await waitUntil(() => h.attached.length === 2, 'connected again after a failed attempt')
  t.same(h.failures, [1, 2, 3, 1], 'a new streak starts at 1')
  t.same(h.delaysAsked, [1, 2, 3, 0, 1], 'after a loss the pause is asked for 0 failures')
  t.equal(h.counters.reconnects, 1)

  t.equal(await connection.close(), true)
  t.same(h.released, [5])
  h.lose(null)
  t.same(h.lostErrors, ['cable'], 'a connection let go of on purpose is not lost')
  t.equal(await connection.close(), false, 'nothing to close twice')
})

t.test('close() while an attempt is under way releases what it made and does not retry', async (t) => {
  const h = harness(['ok'])
  let letGo!: () => void
  h.setGate(new Promise<void>((done) => (letGo = done)))
  const connection = createReconnectingConnection(h.options)
  const opened = connection.open()
  let detached = false
  const closed = connection.close(() => (detached = true))
  letGo()
  await opened
  t.equal(await closed, false)
  t.ok(detached)
  t.same(h.released, [0])
  t.same(h.attached, [])
  t.same(h.delaysAsked, [])
})
