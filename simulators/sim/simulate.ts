// npm run simulate -- --seeds N [--seed S] [--steps K] [--store memory|sqlite]
//   [--only i,j,k] [--no-shrink] [--log]
// Runs seeds S .. S+N-1 (default 1 .. 100) of the deterministic simulation
// and prints a JSON summary; a failed seed is shrunk and printed with its
// steps and the command that replays it. Exits 1 when any seed failed.
import { parseArgs } from 'node:util'
import { runCampaign } from './campaign.js'

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    seed: { type: 'string' },
    steps: { type: 'string' },
    store: { type: 'string' },
    only: { type: 'string' },
    'no-shrink': { type: 'boolean' },
    log: { type: 'boolean' },
  },
  strict: true,
})

function integer(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer of at least ${min}, got ${text}\n`)
    process.exit(2)
  }
  return n
}

const store = values.store ?? 'memory'
if (store !== 'memory' && store !== 'sqlite') {
  process.stderr.write(`--store must be memory or sqlite, got ${store}\n`)
  process.exit(2)
}
const only = values.only?.split(',').map((s) => integer('only', s.trim(), 0, 0))
const summary = await runCampaign({
  firstSeed: integer('seed', values.seed, 1, 0),
  seeds: integer('seeds', values.seeds, values.seed === undefined ? 100 : 1, 1),
  steps: integer('steps', values.steps, 200, 0),
  store,
  shrink: !values['no-shrink'],
  ...(only ? { only } : {}),
  withLog: values.log === true,
})
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
process.exit(summary.failures.length > 0 ? 1 : 0)
