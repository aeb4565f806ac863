// mulberry32: a small seeded pseudo-random generator (32 bits of state).
// The same seed gives the same numbers on every machine, so a seed names a
// fault schedule, a bank statement's returns or a simulation run. Not for
// anything secret.

/** A generator of floats in [0, 1), seeded with the low 32 bits of `seed`. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }
}
