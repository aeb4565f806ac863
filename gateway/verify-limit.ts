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
  // A queue read from `head`: Array#shift copies the whole array once it is large, so under a
  // backlog of thousands of checks every finished check paid for all that still waited.
  let waiting: Array<() => void> = []
  let head = 0
  const release = () => {
    inFlight--
    if (head === waiting.length) return
    const next = waiting[head]!
    waiting[head++] = undefined as unknown as () => void
    // Compacted once the read part is the larger half: each entry is copied at most once more.
    if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head)
      head = 0
    }
    next()
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
      return waiting.length - head
    },
  }
}
