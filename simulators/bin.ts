#!/usr/bin/env node
// wristpay-sim: the simulators from the command line, for people without
// hardware. `reader` plays our NFC reader board on a serial device (one end of
// a socat pty pair, say) so that a real `wristpay-kiosk --reader serial:...`
// can be driven, tapping wristbands when a person says so (reader-cli.ts) or on
// a timer; `tap` sends a tap to a running reader; `demo` and `bench` run the
// demo and the benchmarks, `load` the benchmark's load generator; `bank
// statement` plays the bank of a payout run (bank-sim/cli.ts); `zvt` plays a
// ZVT card terminal on TCP or a serial device (zvt-cli.ts).
import { createInterface } from 'node:readline'
import { TAG_TYPES } from '../device-protocol/index.js'
import { attachFirmwareToSerialPort } from './reader-firmware.js'
import { BANK_USAGE, runBankCommand } from './bank-sim/cli.js'
import { ZVT_USAGE, runZvtCommand } from './zvt-cli.js'
import { COMMANDS_HELP, DEFAULT_UID, createTapper, keyCommand, parseReaderArgs, parseTapCommand, sendControlCommand, startControlSocket, type TapCommand } from './reader-cli.js'

// Only the usage text: the generator itself is loaded when `load` runs.
const LOAD_USAGE = `  load --mqtt URL --fleet FILE [options]
      The load generator that npm run bench runs in its own process: one MQTT
      connection per kiosk, sales signed ahead and offered open loop at fixed
      rates (wristpay-sim load --help for its options).`

export const USAGE = `Usage: wristpay-sim <command> [options]

Commands:
  reader --port PATH [--uids UID,UID,...] [--interval-ms N] [--hold-ms N] [--type T] [--control SOCKET]
      Plays a wristpay NFC reader board on the serial device PATH: greets the
      host, prints the LED/beep feedback the kiosk sends back, and presents a
      wristband for --hold-ms (default 800) whenever you say so:
        on a terminal: keys 1-9 tap that wristband of --uids, space or Enter the
          next one, r removes it, q quits;
        otherwise: lines on stdin, "tap" (the next), "tap 2" (the second of
          --uids), "tap 04A1B2C3D4E5F6" (any UID), "tap UID ntag424", "remove";
        from another shell: wristpay-sim tap --control SOCKET UID, once the
          reader runs with --control SOCKET (a local UNIX socket path).
      --uids        the wristbands to pick from (upper-case hex; default ${DEFAULT_UID})
      --interval-ms also tap one of --uids every N ms (default 3000; 0 = only on demand)
      --type        the tag family the reader reports with every tap, as a real board
                    reads it from the chip: ${TAG_TYPES.join(', ')}
                    (default ntag215). The gateway refuses types the event's
                    tagPolicy.acceptedTypes leaves out (tag_type_not_accepted); ntag424
                    wristbands there also need a SUN message, which only the demo's
                    simulated secure tags send.
      Ctrl-C stops. Example, without hardware:
        socat pty,raw,echo=0,link=/tmp/kiosk-tty pty,raw,echo=0,link=/tmp/reader-tty &
        wristpay-sim reader --port /tmp/reader-tty --uids 04A1B2C3D4E5F6 --interval-ms 0 --control /tmp/reader.sock &
        wristpay-kiosk --reader serial:/tmp/kiosk-tty ...
        wristpay-sim tap --control /tmp/reader.sock 04A1B2C3D4E5F6
  tap --control SOCKET [UID|N] [TYPE]
      Taps a wristband at the reader listening on SOCKET (any UID, or the N-th
      of its --uids; without one the next of them) and prints what it did.
${BANK_USAGE}
${ZVT_USAGE}
  demo [options]     the demo (same as npm start; --help for its options)
  bench [options]    the benchmarks (same as npm run bench)
${LOAD_USAGE}
  --help             this text
`

async function runReader(argv: string[]): Promise<number> {
  const options = parseReaderArgs(argv)
  const device = await attachFirmwareToSerialPort({ path: options.port, model: 'wristpay-sim', firmware: '1.0.0', serial: 'SIM-CLI' })
  device.firmware.on('feedback', (f: { led: string; beep: string }) => console.log(`feedback: LED ${f.led}, beep ${f.beep}`))
  device.firmware.connect()
  const tapper = createTapper({ target: device.firmware, uids: options.uids, type: options.type, holdMs: options.holdMs })
  let quit: () => void = () => {}
  const stopped = new Promise<void>((done) => {
    quit = done
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
  const run = (command: TapCommand): string | undefined => {
    const said = tapper.run(command)
    if (tapper.quitting) quit()
    return said
  }
  const say = (text: string | undefined) => {
    if (text !== undefined) console.log(text)
  }

  const control = options.control === undefined ? undefined : await startControlSocket(options.control, (line) => run(parseTapCommand(line, options.uids)))
  const timer = options.intervalMs > 0 ? setInterval(() => say(run({ kind: 'tap' })), options.intervalMs) : undefined
  console.log(
    `reader on ${options.port} (${options.type}): ${options.uids.map((uid, i) => `${i + 1}=${uid}`).join(', ')}` +
      (timer ? `, a tap every ${options.intervalMs} ms` : '') +
      (control ? `; control socket ${options.control}` : ''),
  )

  const stdin = process.stdin
  let lines: ReturnType<typeof createInterface> | undefined
  if (stdin.isTTY) {
    console.log('keys: 1-9 tap that wristband, space/Enter the next, r remove, q quit')
    stdin.setRawMode(true)
    stdin.setEncoding('utf8')
    stdin.on('data', (key: string) => {
      const command = keyCommand(key, options.uids)
      if (command) say(run(command))
    })
  } else {
    console.log(COMMANDS_HELP.split('\n')[0])
    lines = createInterface({ input: stdin })
    lines.on('line', (line) => say(run(parseTapCommand(line, options.uids))))
  }

  await stopped
  if (timer) clearInterval(timer)
  tapper.stop()
  lines?.close()
  if (stdin.isTTY) stdin.setRawMode(false)
  stdin.pause()
  await control?.close()
  await device.close()
  return 0
}

async function runTap(argv: string[]): Promise<number> {
  const control = argv[0] === '--control' ? argv[1] : undefined
  if (control === undefined || control === '') throw new TypeError('tap needs --control SOCKET first (the --control of the running reader)')
  const answer = await sendControlCommand(control, ['tap', ...argv.slice(2)].join(' '))
  console.log(answer)
  return answer.startsWith('error:') ? 2 : 0
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'reader':
      return runReader(rest)
    case 'tap':
      return runTap(rest)
    case 'bank':
      return runBankCommand(rest)
    case 'zvt':
      return runZvtCommand(rest)
    case 'demo':
      process.argv = [process.argv[0]!, 'simulators/demo/demo.ts', ...rest]
      await import('./demo/demo.js')
      return new Promise(() => {}) // demo.ts exits the process itself
    case 'load': {
      const { runLoadCommand } = await import('./load/cli.js')
      return runLoadCommand(rest)
    }
    case 'bench':
      process.argv = [process.argv[0]!, 'simulators/demo/bench.ts', ...rest]
      await import('./demo/bench.js')
      return 0
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE)
      return command === undefined ? 2 : 0
    default:
      console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error(`wristpay-sim: ${(err as Error).message}`)
    process.exitCode = 2
  },
)
