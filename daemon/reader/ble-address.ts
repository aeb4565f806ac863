// A BLE reader's MAC address as noble spells it. On its own, apart from the BLE
// adapter, so that reading the config (config.ts) does not load the adapter on
// kiosks with other readers.

const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** 'AA:BB:CC:DD:EE:FF' → 'aa:bb:cc:dd:ee:ff' (noble's spelling); null if it is not a MAC address. */
export function normaliseBleAddress(address: string): string | null {
  const lower = typeof address === 'string' ? address.trim().toLowerCase() : ''
  return MAC_ADDRESS.test(lower) ? lower : null
}
