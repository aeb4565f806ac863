// `wristpay-sim load` without the rest of wristpay-sim: the entry the bench
// starts from its transpiled build (bench-build.ts), so that the generator's
// process loads only what it uses. Exits as `wristpay-sim load` does.
import { runLoadCommand } from './cli.js'

runLoadCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error(`wristpay-sim: ${(err as Error).message}`)
    process.exitCode = 2
  },
)
