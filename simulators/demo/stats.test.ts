import t from 'tap'
import { percentile } from './stats.js'

t.test('nearest-rank percentiles', async (t) => {
  const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
  t.equal(percentile(values, 50), 5)
  t.equal(percentile(values, 90), 9)
  t.equal(percentile(values, 99), 10)
  t.equal(percentile(values, 100), 10)
  t.equal(percentile([2.345], 50), 2.3)
  t.equal(percentile([], 50), 0)
  t.same(values, [5, 1, 4, 2, 3, 10, 9, 8, 7, 6], 'input left unsorted')
})
