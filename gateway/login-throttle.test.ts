import t from 'tap'
import { createLoginThrottle, type LoginThrottleLimits } from './login-throttle.js'

const LIMITS: LoginThrottleLimits = { failuresBeforeBlock: 5, blockBaseMs: 1_000, blockMaxMs: 600_000, forgetAfterMs: 3_600_000, maxTrackedAddresses: 100 }
const T0 = 1_700_000_000_000

t.test('a few failures are free, then the block doubles up to its cap', async (t) => {
  const throttle = createLoginThrottle(LIMITS)
  for (let i = 1; i < 5; i++) {
    t.equal(throttle.recordFailure('a', T0), 0, `failure ${i} does not block`)
    t.equal(throttle.blockedForMs('a', T0), 0)
  }
  t.equal(throttle.recordFailure('a', T0), 1_000, 'the 5th failure blocks for the base time')
  t.equal(throttle.blockedForMs('a', T0 + 999), 1, 'still blocked just before the end')
  t.equal(throttle.blockedForMs('a', T0 + 1_000), 0, 'checked again once the block ends')
  t.equal(throttle.blockedForMs('b', T0), 0, 'another address is not affected')

  // Each further failure (one per block, the earliest moment it can be checked) doubles the block.
  let now = T0 + 1_000
  const blocks: number[] = []
  for (let i = 0; i < 12; i++) {
    const blockedForMs = throttle.recordFailure('a', now)
    blocks.push(blockedForMs)
    now += blockedForMs
  }
  t.same(blocks, [2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000, 600_000, 600_000])
})

t.test('the checks an address gets: 15 in its first 17 minutes, then 6 an hour', async (t) => {
  // A guesser that tries again the moment each block ends, for a day.
  const throttle = createLoginThrottle(LIMITS)
  let now = T0
  let checked = 0
  const dayEnd = T0 + 24 * 3_600_000
  let checkedInFirstHour = 0
  while (now < dayEnd) {
    const wait = throttle.blockedForMs('a', now)
    if (wait > 0) {
      now += wait
      continue
    }
    checked++
    if (now < T0 + 3_600_000) checkedInFirstHour++
    throttle.recordFailure('a', now)
  }
  t.equal(checkedInFirstHour, 5 + 10 + 4, '5 free, 10 while the block grows to 10 min (1,023 s), then one per 10 min')
  // The 15th check comes at 1 + 2 + … + 512 = 1,023 s; then one every 600 s: 143 of them from 1,023 s to 86,400 s.
  t.equal(checked, 5 + 9 + 143, '157 checks in a day, against 17 million at the 199/s measured without the throttle')
})

t.test('a large failure count stays at the cap (no overflow to an endless or negative block)', async (t) => {
  const throttle = createLoginThrottle({ ...LIMITS, forgetAfterMs: Number.MAX_SAFE_INTEGER })
  let now = T0
  for (let i = 0; i < 5_000; i++) now += throttle.recordFailure('a', now)
  t.equal(throttle.recordFailure('a', now), 600_000)
})

t.test('an address is forgotten after its block ends and it stays quiet', async (t) => {
  const throttle = createLoginThrottle(LIMITS)
  for (let i = 0; i < 5; i++) throttle.recordFailure('a', T0)
  t.equal(throttle.size(), 1)
  t.equal(throttle.recordFailure('a', T0 + 3_599_999), 2_000, 'a failure within the memory still counts')
  const quiet = T0 + 3_599_999 + 3_600_000
  t.equal(throttle.blockedForMs('a', quiet), 0)
  t.equal(throttle.size(), 0, 'forgotten')
  t.equal(throttle.recordFailure('a', quiet), 0, 'starts again with its free failures')
})

t.test('memory is bounded under a spray of addresses; the least recently failed goes first', async (t) => {
  const throttle = createLoginThrottle({ ...LIMITS, maxTrackedAddresses: 1_000 })
  for (let i = 0; i < 5; i++) throttle.recordFailure('attacker', T0)
  let largest = 0
  for (let i = 0; i < 20_000; i++) {
    throttle.recordFailure(`spray-${i}`, T0)
    largest = Math.max(largest, throttle.size())
  }
  t.equal(largest, 1_000, 'never more than the bound')
  t.equal(throttle.blockedForMs('attacker', T0), 0, 'the oldest record went first')
  t.equal(throttle.blockedForMs('spray-19999', T0), 0, 'the newest stays (one failure, not blocked)')
  t.equal(throttle.recordFailure('spray-19999', T0), 0, 'its second failure is counted on the same record')
})
