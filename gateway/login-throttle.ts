// Throttling of failed MQTT logins per source address (see source-address.ts
// for what an address is). An address may fail `failuresBeforeBlock` times;
// from then on each further failure blocks it for a time that doubles, from
// `blockBaseMs` up to `blockMaxMs`. While blocked, its logins are refused
// without looking at the password, so a guesser gets a bounded number of
// checks per hour whatever rate it sends at. A success does not wipe the
// record: a thief of one kiosk's token could otherwise interleave its own good
// logins to guess at full speed. An address is forgotten once its block has
// ended and it has not failed for `forgetAfterMs`.
//
// Memory is bounded: at most `maxTrackedAddresses` records, the one that
// failed least recently is dropped first (a Map keeps insertion order, and a
// record is re-inserted on each failure). A spray of addresses therefore
// costs its sender its own oldest records, never the gateway's memory.

export interface LoginThrottleLimits {
  failuresBeforeBlock: number
  blockBaseMs: number
  blockMaxMs: number
  forgetAfterMs: number
  maxTrackedAddresses: number
}

export interface LoginThrottle {
  /** How long `address` is still blocked at `nowMs`; 0 when its next login may be checked. */
  blockedForMs(address: string, nowMs: number): number
  /** Records a failed login; returns how long the address is now blocked (0 while it has failures left). */
  recordFailure(address: string, nowMs: number): number
  /** Addresses currently remembered. */
  size(): number
}

interface Entry {
  failures: number
  lastFailureMs: number
  blockedUntilMs: number
}

export function createLoginThrottle(limits: LoginThrottleLimits): LoginThrottle {
  const entries = new Map<string, Entry>()

  function live(address: string, nowMs: number): Entry | undefined {
    const entry = entries.get(address)
    if (entry && nowMs >= entry.blockedUntilMs && nowMs - entry.lastFailureMs >= limits.forgetAfterMs) {
      entries.delete(address)
      return undefined
    }
    return entry
  }

  return {
    blockedForMs(address, nowMs) {
      const entry = live(address, nowMs)
      return entry ? Math.max(0, entry.blockedUntilMs - nowMs) : 0
    },
    recordFailure(address, nowMs) {
      const entry = live(address, nowMs) ?? { failures: 0, lastFailureMs: nowMs, blockedUntilMs: 0 }
      entry.failures++
      entry.lastFailureMs = nowMs
      const over = entry.failures - limits.failuresBeforeBlock
      if (over >= 0) {
        // 2 ** over overflows to Infinity for huge counts; min() keeps it at the cap.
        const blockMs = Math.min(limits.blockBaseMs * 2 ** over, limits.blockMaxMs)
        entry.blockedUntilMs = Math.max(entry.blockedUntilMs, nowMs + blockMs)
      }
      entries.delete(address)
      entries.set(address, entry)
      while (entries.size > limits.maxTrackedAddresses) entries.delete(entries.keys().next().value!)
      return Math.max(0, entry.blockedUntilMs - nowMs)
    },
    size: () => entries.size,
  }
}
