// Runs async work one at a time per key (in this process). Used so that two
// concurrent requests with the same cuid, or two confirms of one payment, do not
// race each other to Stripe: the second waits and then sees what the first stored.
export interface KeyedLock {
  run<T>(key: string, work: () => Promise<T>): Promise<T>
  /** Keys with work queued or running (for tests: the map must not grow without bound). */
  size(): number
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>()
  return {
    run<T>(key: string, work: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve()
      const result = previous.then(work, work)
      // The tail never rejects, so a failed run does not poison the next one.
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
    size: () => tails.size,
  }
}
