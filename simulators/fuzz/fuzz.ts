// `npm run fuzz -- [--count N] [--target NAME] [--seed S]`: runs every fuzz
// target (or one) with N inputs each and prints one JSON summary line per
// target. Exits 1 when any target failed; the failure names the seed and the
// shrunk counterexample, and `--target NAME --seed S` runs it again.
import { parseArgs } from 'node:util'
import { runTarget } from './harness.js'
import { FUZZ_TARGETS } from './targets/index.js'

const { values: args } = parseArgs({
  options: {
    count: { type: 'string' },
    target: { type: 'string', multiple: true },
    seed: { type: 'string' },
    list: { type: 'boolean' },
  },
})

if (args.list) {
  for (const target of FUZZ_TARGETS) process.stdout.write(`${target.name}\t${target.description}\n`)
  process.exit(0)
}

const names = args.target ?? FUZZ_TARGETS.map((t) => t.name)
const unknown = names.filter((n) => !FUZZ_TARGETS.some((t) => t.name === n))
if (unknown.length > 0) {
  process.stderr.write(`unknown target ${unknown.join(', ')}; targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}\n`)
  process.exit(2)
}
const count = args.count === undefined ? undefined : Number(args.count)
if (count !== undefined && (!Number.isSafeInteger(count) || count < 1)) {
  process.stderr.write(`--count must be a positive integer, got ${args.count}\n`)
  process.exit(2)
}
const seed = args.seed === undefined ? Date.now() % 2 ** 31 : Number(args.seed)
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`--seed must be an integer, got ${args.seed}\n`)
  process.exit(2)
}

let failed = 0
for (const target of FUZZ_TARGETS.filter((t) => names.includes(t.name))) {
  const summary = await runTarget(target, { count: count ?? target.ciCount, seed })
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  if (!summary.ok) failed++
}
process.exit(failed > 0 ? 1 : 0)
