// Runs async work one at a time per key: two requests for the same cart or cuid (a
// retry racing its original, two polls) never interleave their Stripe calls
// and ledger bookings. Different keys run in parallel. One gateway process owns
// the database, so an in-process lock is enough.

export interface KeyedLock {
  run<T>(key: string, work: () => Promise<T>): Promise<T>
  /** Keys with work queued or running (for tests and stats). */
  readonly size: number
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>()
  return {
    run<T>(key: string, work: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve()
      // Run after the previous holder whatever its outcome; its error is its caller's, not ours.
      const result = previous.then(work, work)
      const tail = result.then(
        () => undefined,
        () => undefined,
      )
      tails.set(key, tail)
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key)
      })
      return result
    },
    get size() {
      return tails.size
    },
  }
}
