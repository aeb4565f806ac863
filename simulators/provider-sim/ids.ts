// The provider's object ids: a prefix and exactly 24 characters of
// [a-zA-Z0-9] (`pi_yWYfCSzsUUhr9KwMv7vuLZHX`). A seeded generator makes a
// test's ids the same on every run; without a seed they are random.
import { createHash, randomBytes } from 'node:crypto'

export const ID_LENGTH = 24

/** The prefixes the seed names (`evnt` is ours: the seed names no webhook events). */
export type IdPrefix = 'cust' | 'card' | 'sepa' | 'pi' | 'paym' | 'refd' | 'dspt' | 'pout' | 'chck' | 'evnt'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export type IdGenerator = (prefix: IdPrefix) => string

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[a-zA-Z0-9]{${ID_LENGTH}}$`)
}

export function isId(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === 'string' && idPattern(prefix).test(value)
}

function encode(bytes: Uint8Array): string {
  let out = ''
  // 64 bytes of input for 24 characters: the modulo bias of 256 % 62 does not matter for a simulator.
  for (let i = 0; out.length < ID_LENGTH; i += 1) out += ALPHABET[(bytes[i] as number) % ALPHABET.length]
  return out
}

export function createIdGenerator(seed?: string | number): IdGenerator {
  let counter = 0
  return (prefix) => {
    counter += 1
    const bytes =
      seed === undefined ? randomBytes(32) : createHash('sha256').update(`${String(seed)}:${counter}`).digest()
    return `${prefix}_${encode(bytes)}`
  }
}
