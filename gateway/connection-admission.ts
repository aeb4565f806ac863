// Which TCP connections the MQTT listener keeps, so that strangers opening
// connections cannot lock the kiosks out.
//
// A connection is `pending` from TCP accept until its CONNECT authenticates;
// then it is a `kiosk` or an `other` (operator) connection. Pending and other
// connections share the unreserved part of the cap (`maxConnections -
// reservedKioskConnections`) and at most `maxConnectionsPerAddress` of them
// come from one source address; authenticated kiosks count only against the
// total (there is at most one per enrolled kiosk: a kiosk's newer session
// replaces its older one). When a new connection finds its address or the
// unreserved part full, the oldest pending connection (of that address, or of
// all) makes room for it: a stranger cannot tell a kiosk's connection from
// its own before CONNECT, so refusing the newcomer would let idle connections
// hold the door shut, while evicting the oldest lets a kiosk in as long as its
// CONNECT (one round trip) arrives before the pool turns over. Authenticated
// connections are never evicted; instead operators may fill neither the
// unreserved part nor an address's share completely (one slot short of each),
// so there is always a pending connection to evict. A newcomer is refused only
// when authenticated kiosks alone fill the whole cap (more kiosks than the
// reserve: set the reserve to at least the number of kiosks).

export interface AdmissionLimits {
  maxConnections: number
  reservedKioskConnections: number
  maxConnectionsPerAddress: number
}

export type Admission<C> =
  | { admitted: true; evict: C | null }
  | { admitted: false; reason: 'address_full' | 'server_full' }

export interface ConnectionAdmission<C> {
  /** Decides on a new connection from `address`; an evicted connection is already forgotten and must be closed by the caller. */
  admit(connection: C, address: string): Admission<C>
  /**
   * The connection authenticated. False when an operator connection would leave no slot for a
   * connection before CONNECT (in the unreserved part or its address's share): refuse that login.
   * Unknown connections (already evicted or closed) are ignored.
   */
  authenticated(connection: C, role: 'kiosk' | 'other'): boolean
  closed(connection: C): void
  /** `addresses`: source addresses with a pending or operator connection (what the per-address share tracks). */
  counts(): { pending: number; kiosks: number; others: number; addresses: number }
}

type State = 'pending' | 'kiosk' | 'other'

interface AddressRecord<C> {
  /** Insertion order is age: the first is the oldest. */
  pending: Set<C>
  others: number
}

export function createConnectionAdmission<C>(limits: AdmissionLimits): ConnectionAdmission<C> {
  const unreservedCap = Math.max(0, limits.maxConnections - limits.reservedKioskConnections)
  const connections = new Map<C, { address: string; state: State }>()
  /** All pending connections, oldest first. */
  const pending = new Set<C>()
  const addresses = new Map<string, AddressRecord<C>>()
  let kiosks = 0
  let others = 0

  function forget(connection: C): void {
    const known = connections.get(connection)
    if (!known) return
    connections.delete(connection)
    const record = addresses.get(known.address)
    if (known.state === 'pending') {
      pending.delete(connection)
      record?.pending.delete(connection)
    } else if (known.state === 'other') {
      others--
      if (record) record.others--
    } else {
      kiosks--
    }
    if (record && record.pending.size === 0 && record.others === 0) addresses.delete(known.address)
  }

  return {
    admit(connection, address) {
      const record = addresses.get(address)
      let evict: C | null = null
      if (record && record.pending.size + record.others >= limits.maxConnectionsPerAddress) {
        evict = record.pending.values().next().value ?? null
        if (evict === null) return { admitted: false, reason: 'address_full' }
      } else if (pending.size + others >= unreservedCap || connections.size >= limits.maxConnections) {
        evict = pending.values().next().value ?? null
        if (evict === null) return { admitted: false, reason: 'server_full' }
      }
      // One eviction is enough: it frees a slot in both the address and the totals.
      if (evict !== null) forget(evict)
      connections.set(connection, { address, state: 'pending' })
      pending.add(connection)
      const target = addresses.get(address) ?? { pending: new Set<C>(), others: 0 }
      target.pending.add(connection)
      addresses.set(address, target)
      return { admitted: true, evict }
    },
    authenticated(connection, role) {
      const known = connections.get(connection)
      if (!known || known.state !== 'pending') return true
      const record = addresses.get(known.address)!
      if (role === 'other' && (others + 1 >= unreservedCap || record.others + 1 >= limits.maxConnectionsPerAddress)) return false
      pending.delete(connection)
      record.pending.delete(connection)
      if (role === 'kiosk') {
        known.state = 'kiosk'
        kiosks++
        if (record.pending.size === 0 && record.others === 0) addresses.delete(known.address)
      } else {
        known.state = 'other'
        others++
        record.others++
      }
      return true
    },
    closed: forget,
    counts: () => ({ pending: pending.size, kiosks, others, addresses: addresses.size }),
  }
}
