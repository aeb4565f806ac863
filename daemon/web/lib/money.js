// Money on the kiosk page: integer cents everywhere, as in the API; it becomes
// a decimal string ("4.50") only when it is put on the screen, and what the
// cashier types is parsed as text, with no floating point between the keys
// and the cents.

export const MAX_CENTS = 10_000_000

/** Integer cents as "4.50", "-2.00"; no currency symbol. */
export function money(cents) {
  if (!Number.isSafeInteger(cents)) return '–'
  const sign = cents < 0 ? '-' : ''
  const abs = Math.abs(cents)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

/** "+4.50" for positive amounts, for history and differences. */
export function signedMoney(cents) {
  return cents > 0 ? `+${money(cents)}` : money(cents)
}

/** What the cashier typed on a keypad ("20", "4.5", "12.50") as cents, or null. */
export function parseMoney(text) {
  const m = /^(\d{1,6})(?:\.(\d{0,2}))?$/.exec(text)
  if (!m) return null
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'))
  return cents <= MAX_CENTS ? cents : null
}

/** Applies a key to a typed money text ("12.5"); keeps it parseable. */
export function typeMoney(text, key) {
  if (key === 'back') return text.slice(0, -1)
  if (key === 'clear') return ''
  const next = key === '.' ? (text.includes('.') ? text : (text || '0') + '.') : text === '0' ? key : text + key
  return parseMoney(next) === null ? text : next
}

/** A time of day as "18:05" (the kiosk's local time). */
export function clockTime(ms) {
  if (!Number.isFinite(ms)) return ''
  const d = new Date(ms)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}
