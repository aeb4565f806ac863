// Test-only: wait for a condition with a bounded number of polls (no timing assertions).
export async function waitUntil(condition: () => boolean, what: string, maxPolls = 1000, pollMs = 5): Promise<void> {
  for (let i = 0; i < maxPolls; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
  throw new Error(`timed out waiting for ${what}`)
}
