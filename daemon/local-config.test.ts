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
  for (const bad of [null, 'x', { ...base, version: 9, products: [{ id: 'beer', name: 'Beer', price: 1.5 }] }, { ...base, version: 9, extra: 1 }]) {
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

t.test('settled() waits for the writes begun so far: a config in force is on disk once the daemon has stopped', async (t) => {
  const path = join(t.testdir(), 'config.json')
  const store = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  await store.apply(base)
  // Applied from an MQTT message, whose handler nobody awaits: in force at once, written a moment later.
  const applying = store.apply({ ...base, version: 3 })
  t.equal(store.current()?.version, 3, 'in force before the write')
  await store.settled()
  t.match(JSON.parse(readFileSync(path, 'utf8')), { kioskConfig: { version: 3 } }, 'on disk once settled')
  t.same(await applying, { applied: true, version: 3 })
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

t.test('blocklist: pinned gateway key on first sight; a list that does not verify keeps the previous one', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { publicKeyToBase64Url, signBlocklist } = await import('../device-protocol/index.js')
  const gateway = generateKeyPairSync('ed25519')
  const forger = generateKeyPairSync('ed25519')
  const gatewayKey = publicKeyToBase64Url(gateway.publicKey)
  const path = join(t.testdir(), 'config.json')
  const store = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  const lost = '04000000000099'

  t.same(await store.apply({ ...base, version: 3, gatewayKey, blocklist: signBlocklist(1, [lost], gateway.privateKey) }), { applied: true, version: 3 })
  t.equal(store.gatewayKey(), gatewayKey, 'pinned')
  t.same(store.current()!.blocklist!.uids, [lost])
  t.equal(JSON.parse(readFileSync(path, 'utf8')).gatewayKeyPin, gatewayKey, 'the pin is in the lowdb file')

  // Forged list and a config that swaps in the forger's key: applied (the catalog changes), list refused.
  const forged = signBlocklist(2, [], forger.privateKey)
  t.same(await store.apply({ ...base, version: 4, booth: 'New', gatewayKey: publicKeyToBase64Url(forger.publicKey), blocklist: forged }), { applied: true, version: 4 })
  t.equal(store.current()!.booth, 'New')
  t.same(store.current()!.blocklist!.uids, [lost], 'the lost wristband stays blocked')
  t.equal(store.gatewayKey(), gatewayKey, 'the pin is not replaced')
  t.same(store.counters(), { blocklistRejected: 1, gatewayKeyMismatches: 1 })

  // Tampered uids under a real signature, and an older (replayed) real list.
  const real = signBlocklist(5, [lost, '04000000000098'], gateway.privateKey)
  await store.apply({ ...base, version: 5, blocklist: { ...real, uids: ['04000000000098'] } })
  t.same(store.current()!.blocklist!.uids, [lost])
  await store.apply({ ...base, version: 6, blocklist: real })
  t.same(store.current()!.blocklist!.uids, ['04000000000098', lost], 'a newer signed list replaces it')
  await store.apply({ ...base, version: 7, blocklist: signBlocklist(1, [], gateway.privateKey) })
  t.equal(store.current()!.blocklist!.version, 5, 'an older signed list is a replay')
  await store.apply({ ...base, version: 8 })
  t.equal(store.current()!.blocklist!.version, 5, 'a config without a list keeps the list')
  t.equal(store.counters().blocklistRejected, 3)

  // After a restart: the pin and the verified list are still there.
  const again = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  t.equal(again.gatewayKey(), gatewayKey)
  t.equal(again.current()!.blocklist!.version, 5)
})

t.test('blocklist: a configured gateway key wins over the config; no key known: refused', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { publicKeyToBase64Url, signBlocklist } = await import('../device-protocol/index.js')
  const gateway = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519')
  const configured = publicKeyToBase64Url(gateway.publicKey)
  const store = await createLocalConfigStore({ path: join(t.testdir(), 'a.json'), kioskId: 'bar-1', clock, logger, gatewayKey: configured })
  await store.apply({ ...base, version: 3, gatewayKey: publicKeyToBase64Url(other.publicKey), blocklist: signBlocklist(1, ['04000000000001'], other.privateKey) })
  t.equal(store.current()!.blocklist, undefined, 'signed by the key the config names, not by the configured one')
  t.equal(store.gatewayKey(), configured)
  await store.apply({ ...base, version: 4, blocklist: signBlocklist(1, ['04000000000001'], gateway.privateKey) })
  t.same(store.current()!.blocklist!.uids, ['04000000000001'])

  const unkeyed = await createLocalConfigStore({ path: join(t.testdir(), 'b.json'), kioskId: 'bar-1', clock, logger })
  await unkeyed.apply({ ...base, version: 3, blocklist: signBlocklist(1, ['04000000000001'], gateway.privateKey) })
  t.equal(unkeyed.current()!.blocklist, undefined)
  t.equal(unkeyed.counters().blocklistRejected, 1)
})

t.test('the open shift is kept in the file across restarts', async (t) => {
  const path = join(t.testdir(), 'config.json')
  const store = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  await store.apply(base)
  t.equal(store.shift(), undefined)
  await store.setShift({ register: 'till-1', openedAt: 5, staff: null, floatCents: 10_000 })
  const again = await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })
  t.same(again.shift(), { register: 'till-1', openedAt: 5, staff: null, floatCents: 10_000 })
  t.same(again.current(), base, 'the config is still there')
  await again.setShift(undefined)
  t.equal((await createLocalConfigStore({ path, kioskId: 'bar-1', clock, logger })).shift(), undefined)
})
