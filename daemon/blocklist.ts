// The signed blocklist: which gateway key the kiosk trusts, whether a new
// list from a config may replace the one in force, and the lookup. A list that
// does not verify, or is older than the one in force, never unblocks a lost
// wristband: the previous verified list stays.
import type { Blocklist } from '../device-protocol/index.js'
import { publicKeyFromBase64Url, verifyBlocklist } from '../device-protocol/index.js'

export interface GatewayKeyChoice {
  /** The key blocklists are verified with; undefined when none is known yet. */
  key?: string
  /** Set when `offered` becomes the pinned key now (the first one seen). */
  pinNow?: string
  /** The config offered another key than the configured or pinned one (ignored). */
  mismatch?: boolean
}

/** A configured key wins; else the first key ever offered is pinned (trust on first use). */
export function chooseGatewayKey(configured: string | undefined, pinned: string | undefined, offered: string | undefined): GatewayKeyChoice {
  const trusted = configured ?? pinned
  if (trusted !== undefined) return offered !== undefined && offered !== trusted ? { key: trusted, mismatch: true } : { key: trusted }
  if (offered !== undefined) return { key: offered, pinNow: offered }
  return {}
}

export type BlocklistDecision = { blocklist: Blocklist | undefined; rejected?: string }

/** The blocklist that is in force after a config offering `candidate` arrives. */
export function acceptBlocklist(candidate: Blocklist | undefined, previous: Blocklist | undefined, keyBase64Url: string | undefined): BlocklistDecision {
  // No list in the config: keep what we have (unblocking takes a signed list).
  if (candidate === undefined) return { blocklist: previous }
  if (keyBase64Url === undefined) return { blocklist: previous, rejected: 'no gateway key is known to verify it' }
  let verified = false
  try {
    verified = verifyBlocklist(candidate, publicKeyFromBase64Url(keyBase64Url))
  } catch {
    verified = false
  }
  if (!verified) return { blocklist: previous, rejected: 'its signature does not verify with the gateway key' }
  // A replayed older list (validly signed once) must not unblock what a newer one blocks.
  if (previous && candidate.version < previous.version) return { blocklist: previous, rejected: `version ${candidate.version} is older than ${previous.version}` }
  return { blocklist: candidate }
}

const indexes = new WeakMap<Blocklist, Set<string>>()

export function isBlocked(list: Blocklist | undefined, uid: string): boolean {
  if (!list) return false
  let index = indexes.get(list)
  if (!index) {
    index = new Set(list.uids)
    indexes.set(list, index)
  }
  return index.has(uid)
}
