import t from 'tap'
import { sourceAddressKey } from './source-address.js'

t.test('IPv4 counts as itself, also when it arrives IPv4-mapped', async (t) => {
  t.equal(sourceAddressKey('192.0.2.7'), '192.0.2.7')
  t.equal(sourceAddressKey('::ffff:192.0.2.7'), '192.0.2.7')
  t.equal(sourceAddressKey('::ffff:c000:207'), '192.0.2.7', 'mapped, written in hex')
  t.not(sourceAddressKey('192.0.2.7'), sourceAddressKey('192.0.2.8'))
})

t.test('IPv6 counts by its /64', async (t) => {
  const key = sourceAddressKey('2001:db8:1:2:3:4:5:6')
  t.equal(key, '2001:db8:1:2::/64')
  t.equal(sourceAddressKey('2001:db8:1:2::9'), key, 'another host of the same /64')
  t.equal(sourceAddressKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), key, 'case does not matter')
  t.equal(sourceAddressKey('2001:0db8:0001:0002::1'), key, 'leading zeros do not matter')
  t.not(sourceAddressKey('2001:db8:1:3::1'), key, 'the next /64 is another address')
  t.equal(sourceAddressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(sourceAddressKey('fe80::1%eth0'), sourceAddressKey('fe80::2%eth1'), 'zone ids are dropped')
  t.equal(sourceAddressKey('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64', 'an embedded IPv4 tail')
  t.equal(sourceAddressKey('::1'), '0:0:0:0::/64')
})

t.test('no or garbage address counts as unknown', async (t) => {
  t.equal(sourceAddressKey(undefined), 'unknown')
  t.equal(sourceAddressKey(''), 'unknown')
  t.equal(sourceAddressKey('not an address'), 'unknown')
  t.equal(sourceAddressKey('1:2:3'), 'unknown')
})
