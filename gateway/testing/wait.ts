// Test code only: wait for something that arrives over a socket, a thread or a
// timer, by polling a bounded number of times (a bound so that a broken test
// ends; never a measurement: no test asserts how long anything took).

export interface WaitOptions {
  /** How many times the condition is asked before giving up (default 500). */
  polls?: number
  /** Between two polls (default 10 ms). */
  pollMs?: number
}

/** Resolves once `condition` holds; throws `gave up waiting for <what>` after `polls` polls. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, { polls = 500, pollMs = 10 }: WaitOptions = {}): Promise<void> {
  for (let i = 0; i < polls; i++) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
  if (await condition()) return
  throw new Error(`gave up waiting for ${what}`)
}
