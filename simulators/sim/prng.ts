// A small seeded pseudo-random generator for the simulation (mulberry32:
// 32 bits of state, good enough to pick faults and delays, and the same
// numbers for the same seed on every machine). Not for anything secret.
// The generator itself is the one the chaos run and the bank simulator use.
import { seededRandom } from '../seeded-random.js'

export interface Prng {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, n). */
  int(n: number): number
  /** An integer in [min, max]. */
  between(min: number, max: number): number
  /** True with probability p. */
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  /** An independent stream for one part of the simulation, named so adding draws elsewhere does not shift it. */
  fork(label: string): Prng
}

/** FNV-1a of a string, to turn a seed and a label into a 32-bit state. */
function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

export function createPrng(seed: number | string): Prng {
  const next = seededRandom(typeof seed === 'number' ? seed : hash32(seed))
  const origin = String(seed)
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('pick from an empty list')
      return items[int(items.length)]!
    },
    fork: (label) => createPrng(`${origin}/${label}`),
  }
}
