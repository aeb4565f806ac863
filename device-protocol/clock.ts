// Time is a dependency: daemons take a clock so tests and simulations can drive it.
export interface Clock {
  /** Unix milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
