// The key under which limits count a network peer. An IPv4 address counts as
// itself; an IPv6 address by its /64, because one host (or one home router)
// usually holds a whole /64 and could otherwise walk through 2^64 addresses.
import { isIPv4, isIPv6 } from 'node:net'

/** Groups of an IPv6 address (8 × 16 bits), or null when it is not one. `address` has no zone id. */
function ipv6Groups(address: string): number[] | null {
  if (!isIPv6(address)) return null
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is written out as its two groups first.
  const lastColon = address.lastIndexOf(':')
  const tail = address.slice(lastColon + 1)
  let text = address
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number]
    text = `${address.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const gap = text.indexOf('::')
  if (gap < 0) return parse(text)
  const head = parse(text.slice(0, gap))
  const rest = parse(text.slice(gap + 2))
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest]
}

/**
 * `1.2.3.4` for IPv4 (also when it arrives IPv4-mapped as `::ffff:1.2.3.4`),
 * `2001:db8:0:1::/64` style prefixes for IPv6, `unknown` when the socket has no address
 * (it closed before we looked).
 */
export function sourceAddressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown'
  const address = remoteAddress.split('%')[0]!
  if (isIPv4(address)) return address
  const groups = ipv6Groups(address)
  if (!groups) return 'unknown'
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}
