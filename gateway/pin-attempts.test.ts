// The limiter of PIN guessing on its own: wrong guesses per source, the
// event's budget that throttles only sources that have failed themselves, the
// hard maximum, refunds of right PINs, source keys (IPv6 by /64) and the
// bounded memory of sources.
import t from 'tap'
import { pino } from 'pino'
import type { PinAttempt, PinCheckSource } from '../portal-api/index.js'
import { fixedClock } from './ledger/testing/test-helpers.js'
import { DEFAULT_PIN_ATTEMPT_LIMITS, createPinAttempts, decidePinAttempt, pinSourceKey, type PinAttemptLimits } from './pin-attempts.js'

const silent = pino({ level: 'silent' })
const SMALL: PinAttemptLimits = { windowMs: 60_000, perSourceWrongMax: 3, eventWrongBudget: 5, perSourceWrongMaxOnceBudgetSpent: 1, eventWrongHardMax: 9, maxTrackedSources: 1000 }

function limiter(limits: Partial<PinAttemptLimits> = SMALL) {
  const clock = fixedClock()
  const pins = createPinAttempts({ clock, logger: silent, limits })
  /** One wrong guess (or a refusal) from an address. */
  const wrong = (address: string): PinAttempt => pins.attempt({ address })
  /** A right PIN from an address: refunded when allowed. */
  const right = (address: string): PinAttempt => {
    const attempt = pins.attempt({ address })
    if (attempt.allowed) attempt.refund()
    return attempt
  }
  return { clock, pins, wrong, right }
}

t.test('a source gets its own wrong guesses per window, then waits; other sources are not affected', async (t) => {
  const { clock, pins, wrong, right } = limiter()
  for (let i = 0; i < 3; i++) t.equal(wrong('10.0.0.1').allowed, true)
  const refused = wrong('10.0.0.1')
  t.match(refused, { allowed: false, reason: 'source_limit', retryAfterMs: 60_000 })
  t.match(right('10.0.0.1'), { allowed: false, reason: 'source_limit' }, 'the right PIN from the guessing address waits too')
  t.equal(right('10.0.0.2').allowed, true, 'another address is checked')
  clock.advance(60_000)
  t.equal(wrong('10.0.0.1').allowed, true, 'a new window')
  t.match(pins.counters(), { checked: 5, wrong: 4, refusedSourceLimit: 2 })
})

t.test('right PINs are never counted as wrong guesses', async (t) => {
  const { right, wrong, pins } = limiter()
  for (let i = 0; i < 50; i++) t.equal(right('10.0.0.1').allowed, true)
  t.equal(wrong('10.0.0.1').allowed, true, 'still all three wrong guesses left')
  t.equal(pins.counters().wrong, 1)
  const attempt = pins.attempt({ address: '10.0.0.1' })
  if (!attempt.allowed) throw new Error('expected allowed')
  attempt.refund()
  attempt.refund()
  t.equal(pins.counters().wrong, 1, 'a second refund changes nothing')
})

t.test('once the event budget is spent, only sources without their own failures are checked', async (t) => {
  const { wrong, right, pins } = limiter()
  // Five addresses spend the budget of five wrong guesses.
  for (let i = 1; i <= 5; i++) t.equal(wrong(`10.0.1.${i}`).allowed, true)
  t.match(right('10.0.1.1'), { allowed: false, reason: 'event_budget_spent' }, 'a source that failed waits, even with the right PIN')
  t.equal(right('10.0.2.1').allowed, true, 'a guest from an address that never failed logs in')
  t.equal(right('10.0.2.1').allowed, true, 'and again')
  t.equal(wrong('10.0.2.2').allowed, true, 'a fresh address gets one guess')
  t.match(wrong('10.0.2.2'), { allowed: false, reason: 'event_budget_spent' }, 'and no second')
  t.match(pins.counters(), { wrong: 6, refusedBudgetSpent: 2 })
})

t.test('the hard maximum refuses everyone until the window ends', async (t) => {
  const { clock, wrong, right, pins } = limiter()
  for (let i = 1; i <= 9; i++) t.equal(wrong(`10.0.3.${i}`).allowed, true)
  const refused = right('10.0.4.1')
  t.match(refused, { allowed: false, reason: 'event_hard_max', retryAfterMs: 60_000 })
  clock.advance(30_000)
  t.match(right('10.0.4.1'), { allowed: false, reason: 'event_hard_max', retryAfterMs: 30_000 })
  clock.advance(30_000)
  t.equal(right('10.0.4.1').allowed, true)
  t.equal(wrong('10.0.3.1').allowed, true, 'last window\'s failures are forgotten with it')
  t.equal(pins.counters().refusedHardMax, 2)
})

t.test('the bound: a spray from many addresses is cut at budget + one guess per fresh address, and at the hard maximum', async (t) => {
  const limits = { ...SMALL, perSourceWrongMax: 5, eventWrongBudget: 30, perSourceWrongMaxOnceBudgetSpent: 2, eventWrongHardMax: 100 }
  const { wrong, pins } = limiter(limits)
  let allowed = 0
  // 20 addresses try 5 wrong PINs each.
  for (let a = 0; a < 20; a++) for (let i = 0; i < 5; i++) if (wrong(`10.1.0.${a}`).allowed) allowed++
  // 6 addresses spend the budget (30), the other 14 get 2 each.
  t.equal(allowed, 30 + 14 * 2)
  t.equal(pins.counters().wrong, 58)
  // Many more addresses: cut at the hard maximum, whatever their number.
  for (let a = 0; a < 200; a++) for (let i = 0; i < 5; i++) if (wrong(`10.2.${a >> 8}.${a & 255}`).allowed) allowed++
  t.equal(allowed, 100)
  t.equal(pins.counters().wrong, 100)
})

t.test('a decision is pure: counts in, refusal out', async (t) => {
  const L = SMALL
  t.same(decidePinAttempt(L, 1000, undefined, undefined), { ok: true })
  t.same(decidePinAttempt(L, 1000, { startMs: 0, wrong: 5 }, undefined), { ok: true }, 'budget spent, source clean')
  t.same(decidePinAttempt(L, 1000, { startMs: 0, wrong: 5 }, { startMs: 500, wrong: 1 }), { ok: false, reason: 'event_budget_spent', retryAfterMs: 59_000 })
  t.same(decidePinAttempt(L, 61_000, { startMs: 0, wrong: 9 }, { startMs: 0, wrong: 3 }), { ok: true }, 'ended windows count nothing')
})

t.test('sources: IPv4 address, IPv6 /64, IPv4-mapped IPv6 as IPv4, kiosk', async (t) => {
  const key = (source: PinCheckSource) => pinSourceKey(source)
  t.equal(key({ address: '2001:db8:1:2:aaaa::1' }), key({ address: '2001:0db8:0001:0002:ffff:ffff:ffff:ffff' }), 'one /64')
  t.not(key({ address: '2001:db8:1:2::1' }), key({ address: '2001:db8:1:3::1' }), 'another /64')
  t.equal(key({ address: '::ffff:10.0.0.1' }), key({ address: '10.0.0.1' }))
  t.not(key({ address: '10.0.0.1' }), key({ address: '10.0.0.2' }))
  t.equal(key({ kiosk: 'cash-1' }), 'kiosk:cash-1')
  t.not(key({ kiosk: '10.0.0.1' }), key({ address: '10.0.0.1' }))

  const { pins } = limiter()
  for (let i = 0; i < 3; i++) t.equal(pins.attempt({ address: `2001:db8:5:6::${i + 1}` }).allowed, true)
  t.match(pins.attempt({ address: '2001:db8:5:6:ffff::9' }), { allowed: false, reason: 'source_limit' }, 'a host cannot rotate addresses inside its /64')
})

t.test('remembering sources is bounded; forgetting one never loosens the event counts', async (t) => {
  const { pins, wrong } = limiter({ ...SMALL, maxTrackedSources: 2, eventWrongBudget: 100, eventWrongHardMax: 6 })
  for (let i = 0; i < 3; i++) wrong('10.0.5.1')
  t.equal(wrong('10.0.5.1').allowed, false)
  wrong('10.0.5.2')
  wrong('10.0.5.3')
  t.equal(wrong('10.0.5.1').allowed, true, 'the oldest source was forgotten')
  t.match(wrong('10.0.5.4'), { allowed: false, reason: 'event_hard_max' }, 'the event counted all six')
  t.equal(pins.counters().wrong, 6)
})

t.test('the defaults keep the event-wide bound of the old per-prefix limit (32^3 prefixes x 20 an hour)', async (t) => {
  t.equal(DEFAULT_PIN_ATTEMPT_LIMITS.eventWrongHardMax, 32 ** 3 * 20)
  t.equal(DEFAULT_PIN_ATTEMPT_LIMITS.windowMs, 60 * 60_000)
  t.ok(DEFAULT_PIN_ATTEMPT_LIMITS.eventWrongBudget < DEFAULT_PIN_ATTEMPT_LIMITS.eventWrongHardMax)
})
