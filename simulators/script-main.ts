// The command-line shape the npm scripts share (`npm start`, `npm run cluster`,
// `npm run failover`): parse the options (a usage error exits 2 with the usage
// text, --help prints it and exits 0), say why the script cannot run on this
// machine (exit 2), run it, and exit with its code; a crash prints its stack
// and exits 1. Only when the file is run as a program, not when a test imports
// it.

export interface ScriptMain<O> {
  /** The script's name, for the messages. */
  name: string
  usage: string
  /** The options, or 'help'; throws a usage error. */
  parse(argv: string[]): O | 'help'
  /** Why the script cannot run here, or undefined. */
  unavailable?(): string | undefined
  /** Runs the script; its exit code. */
  run(options: O): Promise<number>
}

/** The exit code of a run of `script` with `argv`; prints usage errors, help and refusals. */
export async function scriptExitCode<O>(script: ScriptMain<O>, argv: string[]): Promise<number> {
  let options: O | 'help'
  try {
    options = script.parse(argv)
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${script.usage}`)
    return 2
  }
  if (options === 'help') {
    console.log(script.usage)
    return 0
  }
  const unavailable = script.unavailable?.()
  if (unavailable !== undefined) {
    console.error(`${script.name}: ${unavailable}`)
    return 2
  }
  return script.run(options)
}

/** Runs `script` with the process's arguments and exits with its code, when `isProgram` (the file is what node was started with). */
export function runAsProgram<O>(script: ScriptMain<O>, isProgram: boolean): void {
  if (!isProgram) return
  scriptExitCode(script, process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`${script.name} failed: ${(err as Error)?.stack ?? String(err)}`)
      process.exit(1)
    },
  )
}
