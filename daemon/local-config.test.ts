import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import type { KioskConfig } from '../device-protocol/index.js'
import { createLocalConfigStore } from './local-config.js'

const logger = pino({ level: 'silent' })
const clock = { now: () => 1_700_000_000_000 }
const base: KioskConfig = { kiosk: 'bar-1', booth: 'Bar', version: 2, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: false, saleAllowed: true }

t.test('applies newer configs, ignores older, same-version, invalid and foreign ones', async (t) => {
  const path = join(t.testdir(), 'config.json')
  const store = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  const seen: number[] = []
  store.onChange((c) => seen.push(c.version))
  t.equal(store.current(), undefined)

  t.same(await store.apply(base), { applied: true, version: 2 })
  t.match(await store.apply({ ...base, version: 1, booth: 'Old' }), { applied: false, reason: 'older' })
  t.match(await store.apply({ ...base, booth: 'Same version' }), { applied: false, reason: 'same_version' })
  t.match(await store.apply({ ...base, version: 9, kiosk: 'bar-2' }), { applied: false, reason: 'wrong_kiosk' })
  for (const bad of [null, 'x', { ...base, version: 9, products: [{ id: 'beer', name: 'Beer', price: -1 }] }, { ...base, version: 9, extra: 1 }]) {
    t.match(await store.apply(bad), { applied: false, reason: 'invalid' })
  }
  t.equal(store.current()!.booth, 'Bar')
  t.same(await store.apply({ ...base, version: 3, products: [{ id: 'water', name: 'Water', price: 200 }] }), { applied: true, version: 3 })
  t.equal(store.product('water')!.price, 200)
  t.equal(store.product('beer'), undefined, 'the old catalog is gone')
  t.same(seen, [2, 3])
})

t.test('the applied config survives a restart; the file is human-readable JSON', async (t) => {
  const path = join(t.testdir(), 'config.json')
  const first = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  const candidate = structuredClone(base)
  await first.apply(candidate)
  candidate.products[0]!.price = 1 // the caller's object must not alias the stored one
  t.match(JSON.parse(readFileSync(path, 'utf8')), { kioskConfig: base, appliedAt: clock.now() })
  const again = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  t.same(again.current(), base)
  t.equal(again.appliedAt(), clock.now())
})

t.test('a corrupt or foreign file does not stop the kiosk; a corrupt one is kept aside', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'config.json')
  writeFileSync(path, '{"kioskConfig": ')
  const store = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  t.equal(store.current(), undefined)
  t.ok(readdirSync(dir).some((f) => f.startsWith('config.json.corrupt-')))
  t.same(await store.apply(base), { applied: true, version: 2 })

  const foreign = join(dir, 'foreign.json')
  writeFileSync(foreign, JSON.stringify({ kioskConfig: { ...base, kiosk: 'bar-9' }, appliedAt: 1 }))
  t.equal((await createLocalConfigStore({ path: foreign, kioskId: 'bar-1', clock, logger })).current(), undefined)
  const invalid = join(dir, 'invalid.json')
  writeFileSync(invalid, JSON.stringify({ kioskConfig: { ...base, products: 'all' }, appliedAt: 1 }))
  t.equal((await createLocalConfigStore({ path: invalid, kioskId: 'bar-1', clock, logger })).current(), undefined)
})
