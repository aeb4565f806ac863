// The portal PIN of a wristband activated by a ticket sale. It is derived from
// the PIN secret and the transaction id, never stored: the gateway can give
// the same PIN again when a kiosk resends the transaction, and a copy of the
// database alone (which holds only keyed lookups) does not reveal it.
import { createHmac } from 'node:crypto'
import { DEFAULT_PIN_LENGTH, PIN_ALPHABET } from './pins.js'

export function ticketPin(pinSecret: Buffer, txId: string): string {
  const digest = createHmac('sha256', pinSecret).update(`wristpay-ticket-pin:${txId}`).digest()
  // 32 symbols: 5 bits each, taken from the digest's bytes (no modulo bias: 256 is a multiple of 32).
  let pin = ''
  for (let i = 0; i < DEFAULT_PIN_LENGTH; i++) pin += PIN_ALPHABET[digest[i]! % PIN_ALPHABET.length]
  return pin
}
