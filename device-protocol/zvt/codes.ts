// ZVT result codes (BMP 27, abort 06 1E, negative acknowledgement 84 xx) and
// intermediate status codes (04 FF), with the texts of the ZVT specification.
// 0x01-0x63 are the authorisation system's own codes (ISO 8583 response codes).

export const ZVT_RESULT = {
  success: 0x00,
  declined: 0x05,
  cardNotReadable: 0x64,
  processingError: 0x66,
  notRegistered: 0x6b,
  abortedByCustomer: 0x6c,
  blockedCard: 0x6e,
  wrongCurrency: 0x6f,
  creditNotSufficient: 0x71,
  cardExpired: 0x78,
  communicationError: 0x7d,
  functionNotPossible: 0x83,
  protocolError: 0x9a,
  pleaseWait: 0x9c,
  receiverNotReady: 0xa0,
  alreadyReversed: 0xb4,
  reversalNotPossible: 0xb5,
  systemError: 0xff,
} as const

const RESULT_TEXTS: Record<number, string> = {
  0x00: 'no error',
  0x05: 'declined by the authorisation system',
  0x64: 'card not readable',
  0x65: 'card data not present',
  0x66: 'processing error',
  0x67: 'function not permitted for ec and Maestro cards',
  0x68: 'function not permitted for credit and tank cards',
  0x6a: 'turnover file full',
  0x6b: 'function deactivated (terminal not registered)',
  0x6c: 'aborted (timeout or abort key)',
  0x6e: 'card in blocked list',
  0x6f: 'wrong currency',
  0x71: 'credit not sufficient',
  0x72: 'chip error',
  0x73: 'card data incorrect',
  0x77: 'end-of-day batch not possible',
  0x78: 'card expired',
  0x79: 'card not yet valid',
  0x7a: 'card unknown',
  0x7d: 'communication error',
  0x83: 'function not possible',
  0x85: 'key missing',
  0x89: 'PIN pad defective',
  0x9a: 'ZVT protocol error',
  0x9b: 'error from dial-up or communication fault',
  0x9c: 'please wait',
  0xa0: 'receiver not ready',
  0xa1: 'remote station does not respond',
  0xa3: 'no connection',
  0xb1: 'memory full',
  0xb4: 'already reversed',
  0xb5: 'reversal not possible',
  0xc3: 'maximum amount exceeded',
  0xc5: 'payment method not supported',
  0xc6: 'currency not applicable',
  0xc8: 'amount too small',
  0xff: 'system error',
}

export function zvtResultText(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0').toUpperCase()}`
  if (RESULT_TEXTS[code]) return `${hex} ${RESULT_TEXTS[code]}`
  if (code >= 0x01 && code <= 0x63) return `${hex} authorisation system error ${code}`
  return `${hex} unknown result code`
}

/** The customer (or the abort key, or the terminal's own timeout) ended it: no payment. */
export function isAbortCode(code: number): boolean {
  return code === ZVT_RESULT.abortedByCustomer
}

const INTERMEDIATE_TEXTS: Record<number, string> = {
  0x00: 'waiting for amount confirmation',
  0x01: 'please watch the PIN pad',
  0x02: 'please watch the PIN pad',
  0x03: 'not accepted',
  0x04: 'waiting for the response from the host',
  0x05: 'sending auto-reversal',
  0x06: 'sending post-bookings',
  0x07: 'card not admitted',
  0x08: 'card unknown',
  0x09: 'expired card',
  0x0a: 'insert card',
  0x0b: 'please remove card',
  0x0c: 'card not readable',
  0x0d: 'processing error',
  0x0e: 'please wait',
  0x0f: 'automatic end-of-day batch',
  0x10: 'invalid card',
  0x11: 'balance display',
  0x12: 'system malfunction',
  0x13: 'payment not possible',
  0x14: 'credit not sufficient',
  0x15: 'incorrect PIN',
  0x16: 'limit not sufficient',
  0x17: 'please wait',
  0x18: 'PIN try limit exceeded',
  0x19: 'card data incorrect',
  0x1a: 'service mode',
  0x1b: 'approved, please fill up',
  0x1c: 'approved, please take goods',
  0x1d: 'declined',
}

export function zvtIntermediateText(code: number): string {
  return INTERMEDIATE_TEXTS[code] ?? `terminal status 0x${code.toString(16).padStart(2, '0')}`
}

/** Terminal status code (completion of a status enquiry): 0x00 = ready. */
export const ZVT_TERMINAL_READY = 0x00

/** ISO 4217 numeric code, as ZVT carries it (EUR = 978 = BCD 09 78). */
export const ZVT_CURRENCY_EUR = 978
