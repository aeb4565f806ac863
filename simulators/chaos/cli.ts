// npm run chaos -- --minutes M --kills K [--kiosks N] [--seed S] [--proxy-faults F] [--keep] [--ts-node]
// Runs the chaos run (chaos-run.ts) and prints its JSON summary on stdout,
// progress on stderr; exits 1 when something was lost or doubled, the books
// do not balance, the audit found anything or an outbox did not empty.
import { parseArgs } from 'node:util'
import { chaosPassed, runChaos } from './chaos-run.js'

const USAGE = `usage: npm run chaos -- --minutes M --kills K [--kiosks N] [--seed S] [--proxy-faults F] [--keep] [--ts-node]
  --minutes M       how long the cashiers sell while faults happen (default 5)
  --kills K         SIGKILLs of the gateway, and as many of kiosks (default 10)
  --kiosks N        kiosk processes (default 3)
  --seed S          the fault schedule's seed (default: random, printed in the summary)
  --proxy-faults F  network faults on the proxies (default: twice the kills)
  --keep            keep the ledger and the outboxes (kept anyway when the run fails)
  --ts-node         start the processes through ts-node (default: from a copy transpiled once at the start)
`

function positiveNumber(name: string, text: string | undefined, fallback: number, integer = true): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number of at least 0, not ${JSON.stringify(text)}`)
  return value
}

let options: Parameters<typeof runChaos>[0]
try {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      kills: { type: 'string' },
      kiosks: { type: 'string' },
      seed: { type: 'string' },
      'proxy-faults': { type: 'string' },
      keep: { type: 'boolean' },
      'ts-node': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const kills = positiveNumber('kills', values.kills, 10)
  const kiosks = positiveNumber('kiosks', values.kiosks, 3)
  if (kiosks < 1) throw new Error('--kiosks must be at least 1')
  const proxyFaults = values['proxy-faults'] === undefined ? undefined : positiveNumber('proxy-faults', values['proxy-faults'], 0)
  options = {
    minutes: positiveNumber('minutes', values.minutes, 5, false),
    gatewayKills: kills,
    kioskKills: kills,
    kiosks,
    seed: positiveNumber('seed', values.seed, Math.floor(Math.random() * 2 ** 31)),
    ...(proxyFaults === undefined ? {} : { proxyFaults }),
    ...(values.keep ? { keepDir: true } : {}),
    ...(values['ts-node'] ? { tsNode: true } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  }
} catch (err) {
  process.stderr.write(`chaos: ${(err as Error).message}\n\n${USAGE}`)
  process.exit(2)
}

// Ctrl-C or a kill: exit through process.exit, so that runChaos's exit hook kills the gateway and the kiosks with us.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
const summary = await runChaos(options)
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
process.exitCode = chaosPassed(summary) ? 0 : 1
