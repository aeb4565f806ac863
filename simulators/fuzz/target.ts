// What a fuzz target is: one boundary of wristpay (a codec, a payload parser,
// an HTTP route table, a file importer), an arbitrary that makes inputs for it,
// and a run that feeds one input in and checks the oracle. A run returns what
// the boundary did with the input; it throws (anything) when the oracle fails,
// and fast-check then shrinks the input to the smallest that still fails.
import type fc from 'fast-check'

/** What the boundary did with one input. */
export type Verdict = 'accepted' | 'refused'

/** One target set up and ready for inputs (a gateway, a kiosk, or nothing for a pure codec). */
export interface FuzzInstance<T> {
  arbitrary: fc.Arbitrary<T>
  /** run() never returns a promise (a pure codec): inputs are fed without a turn of the event loop each. */
  synchronous?: boolean
  /** Feeds one input; throws when the oracle fails. */
  run(input: T): Verdict | Promise<Verdict>
  /** Oracles over the whole run (counters that must have moved); throws when one fails. */
  finish?(): void | Promise<void>
  close?(): void | Promise<void>
  /** Figures for the summary (statuses seen, counters of the boundary). */
  report?(): Record<string, unknown>
}

export interface FuzzTarget<T = unknown> {
  name: string
  /** One line: the boundary and what the oracle checks. */
  description: string
  /** Inputs in the short (CI) form. */
  ciCount: number
  create(): Promise<FuzzInstance<T>> | FuzzInstance<T>
}

/** An oracle failure: what was expected, in words. */
export class OracleFailure extends Error {
  override name = 'OracleFailure'
}

export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new OracleFailure(message)
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join(',')

/** A `__proto__` or `constructor.prototype` in some input must never reach Object.prototype. */
export function assertNoPrototypePollution(): void {
  const keys = Object.getOwnPropertyNames(Object.prototype).sort().join(',')
  expect(keys === PROTOTYPE_KEYS, `Object.prototype was polluted: it now has ${keys}`)
}
