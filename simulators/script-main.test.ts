// The npm scripts' shared command line: usage errors exit 2 with the usage,
// --help exits 0, a machine that cannot run the script exits 2 with the
// reason, and otherwise the script's own exit code.
import t, { type Test } from 'tap'
import { scriptExitCode, type ScriptMain } from './script-main.js'

function capture(t: Test) {
  const out: string[] = []
  const err: string[] = []
  const log = console.log
  const error = console.error
  console.log = (line: string) => void out.push(line)
  console.error = (line: string) => void err.push(line)
  t.teardown(() => {
    console.log = log
    console.error = error
  })
  return { out, err }
}

const script = (overrides: Partial<ScriptMain<{ n: number }>> = {}): ScriptMain<{ n: number }> & { runs: number[] } => {
  const runs: number[] = []
  return {
    name: 'thing',
    usage: 'usage: npm run thing -- [--n N]',
    parse(argv) {
      if (argv.includes('--help')) return 'help'
      const n = Number(argv[1] ?? 0)
      if (argv[0] !== undefined && argv[0] !== '--n') throw new Error(`unknown option ${argv[0]}`)
      return { n }
    },
    async run(options) {
      runs.push(options.n)
      return options.n
    },
    runs,
    ...overrides,
  }
}

t.test('a usage error exits 2 with the message and the usage; nothing runs', async (t) => {
  const { err } = capture(t)
  const s = script()
  t.equal(await scriptExitCode(s, ['--bogus']), 2)
  t.match(err.join('\n'), /unknown option --bogus\n\nusage: npm run thing/)
  t.same(s.runs, [])
})

t.test('--help prints the usage and exits 0; nothing runs', async (t) => {
  const { out } = capture(t)
  const s = script()
  t.equal(await scriptExitCode(s, ['--help']), 0)
  t.same(out, ['usage: npm run thing -- [--n N]'])
  t.same(s.runs, [])
})

t.test('a machine that cannot run it: exit 2 with the reason; nothing runs', async (t) => {
  const { err } = capture(t)
  const s = script({ unavailable: () => 'PostgreSQL is not installed' })
  t.equal(await scriptExitCode(s, ['--n', '3']), 2)
  t.same(err, ['thing: PostgreSQL is not installed'])
  t.same(s.runs, [])
})

t.test("otherwise the script runs with the parsed options and its code is the exit code", async (t) => {
  capture(t)
  const s = script({ unavailable: () => undefined })
  t.equal(await scriptExitCode(s, ['--n', '1']), 1)
  t.equal(await scriptExitCode(s, []), 0)
  t.same(s.runs, [1, 0])
})
