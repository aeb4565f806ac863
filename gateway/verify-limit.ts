// At most `max` asynchronous checks at once; the rest wait here, in arrival
// order. Ingest's Ed25519 checks run on libuv's thread pool (4 threads unless
// UV_THREADPOOL_SIZE says otherwise), which the portal's token checks, file
// system calls and DNS share: handing it thousands of checks at once makes
// everything else wait behind all of them.

export interface ConcurrencyLimit {
  run<T>(task: () => Promise<T>): Promise<T>
  /** Tasks started and not yet finished. */
  readonly inFlight: number
  /** Tasks waiting for a slot. */
  readonly waiting: number
}

export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  if (!Number.isInteger(max) || max < 1) throw new Error('concurrency limit must be a positive whole number')
  let inFlight = 0
  const waiting: Array<() => void> = []
  const release = () => {
    inFlight--
    const next = waiting.shift()
    if (next !== undefined) next()
  }
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          inFlight++
          let started: Promise<T>
          try {
            started = task()
          } catch (err) {
            started = Promise.reject(err)
          }
          started.then(
            (value) => {
              release()
              resolve(value)
            },
            (err: unknown) => {
              release()
              reject(err)
            },
          )
        }
        if (inFlight < max) start()
        else waiting.push(start)
      })
    },
    get inFlight() {
      return inFlight
    },
    get waiting() {
      return waiting.length
    },
  }
}
