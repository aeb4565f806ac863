import t from 'tap'
import { createKeyedLock } from './keyed-lock.js'

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

t.test('work on one key runs one at a time, in order, even when one fails', async (t) => {
  const lock = createKeyedLock()
  const events: string[] = []
  const gate = deferred()
  const a = lock.run('cart-1', async () => {
    events.push('a start')
    await gate.promise
    events.push('a end')
    throw new Error('a failed')
  })
  const b = lock.run('cart-1', async () => {
    events.push('b')
    return 2
  })
  // Another key is not held up by cart-1.
  const other = await lock.run('cart-2', async () => 'other')
  t.equal(other, 'other')
  t.same(events, ['a start'])
  gate.resolve()
  await t.rejects(a, /a failed/)
  t.equal(await b, 2)
  t.same(events, ['a start', 'a end', 'b'])
  await new Promise((r) => setImmediate(r))
  t.equal(lock.size, 0, 'finished keys are forgotten')
})
