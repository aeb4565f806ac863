// Test-only: wait for a condition with a bounded number of polls (no timing assertions).
export async function waitUntil(condition: () => boolean, what: string, maxPolls = 1000, pollMs = 5): Promise<void> {
  for (let i = 0; i < maxPolls; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * Test-only: resolves with the arguments of the first `event` that `accept`
 * takes; rejects after `timeoutMs` (a bound so a broken test ends, not a measurement).
 */
export function waitForEvent<A extends unknown[]>(
  emitter: import('node:events').EventEmitter,
  event: string,
  accept: (...args: A) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]) => {
      if (!accept(...(args as A))) return
      cleanup()
      resolve(args as A)
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no matching '${event}' within ${timeoutMs} ms`))
    }, timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      emitter.off(event, onEvent)
    }
    emitter.on(event, onEvent)
  })
}
