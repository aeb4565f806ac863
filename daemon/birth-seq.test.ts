import t from 'tap'
import { join } from 'node:path'
import { createOutbox } from './outbox.js'
import { createBirthSequence } from './birth-seq.js'

const clock = { now: () => 1_000 }

t.test('the bdSeq starts at 0, goes up by one per connection and goes on after the database is opened again', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  const outbox = createOutbox({ path, maxEntries: 10, clock })
  const seq = createBirthSequence(outbox.database)
  t.equal(seq.current(), undefined)
  t.same([seq.next(), seq.next(), seq.next()], [0, 1, 2])
  t.equal(seq.current(), 2)
  outbox.close()
  const reopened = createOutbox({ path, maxEntries: 10, clock })
  t.teardown(() => reopened.close())
  t.equal(createBirthSequence(reopened.database).next(), 3)
})

t.test('a damaged stored value starts over at 0 instead of stopping the kiosk', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  outbox.database.prepare("INSERT INTO meta (key, value) VALUES ('bd_seq', 'garbage')").run()
  t.equal(createBirthSequence(outbox.database).next(), 0)
})
