#!/usr/bin/env node
// wristpay-sim: the simulators from the command line, for people without
// hardware. `reader` plays our NFC reader board on a serial device (one end of
// a socat pty pair, say) so that a real `wristpay-kiosk --reader serial:...`
// can be driven; `demo` and `bench` run the demo and the benchmarks.
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { normaliseUid } from '../device-protocol/index.js'
import { attachFirmwareToSerialPort } from './reader-firmware.js'

export const USAGE = `Usage: wristpay-sim <command> [options]

Commands:
  reader --port PATH [--uids UID,UID,...] [--interval-ms N] [--hold-ms N] [--type T]
      Plays a wristpay NFC reader board on the serial device PATH: greets the
      host, then every --interval-ms (default 3000) presents one of --uids
      (upper-case hex; default a fixed demo UID) for --hold-ms (default 800) and
      prints the LED/beep feedback the kiosk sends back. Ctrl-C stops.
      Example, without hardware:
        socat pty,raw,echo=0,link=/tmp/kiosk-tty pty,raw,echo=0,link=/tmp/reader-tty &
        wristpay-sim reader --port /tmp/reader-tty --uids 04A1B2C3D4E5F6
        wristpay-kiosk --reader serial:/tmp/kiosk-tty ...
  demo [options]     the demo (same as npm start; --help for its options)
  bench [options]    the benchmarks (same as npm run bench)
  --help             this text
`

async function runReader(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      uids: { type: 'string', default: '04A1B2C3D4E5F6' },
      'interval-ms': { type: 'string', default: '3000' },
      'hold-ms': { type: 'string', default: '800' },
      type: { type: 'string', default: 'ntag215' },
    },
  })
  if (!values.port) throw new TypeError('reader needs --port PATH')
  const uids = values.uids.split(',').map((u) => normaliseUid(u.trim()))
  if (uids.some((u) => u === null)) throw new TypeError('--uids must be hex UIDs of 4, 7 or 10 bytes')
  const intervalMs = Number(values['interval-ms'])
  const holdMs = Number(values['hold-ms'])
  if (!(intervalMs > 0 && holdMs > 0 && holdMs < intervalMs)) throw new TypeError('--hold-ms must be positive and shorter than --interval-ms')

  const device = await attachFirmwareToSerialPort({ path: values.port, model: 'wristpay-sim', firmware: '1.0.0', serial: 'SIM-CLI' })
  device.firmware.on('feedback', (f: { led: string; beep: string }) => console.log(`feedback: LED ${f.led}, beep ${f.beep}`))
  device.firmware.connect()
  console.log(`reader on ${values.port}: tapping ${uids.join(', ')} every ${intervalMs} ms`)
  const timer = setInterval(() => {
    const uid = uids[randomInt(0, uids.length)]!
    console.log(`tap ${uid}`)
    device.firmware.present(uid, values.type as 'ntag215')
    setTimeout(() => device.firmware.remove(), holdMs)
  }, intervalMs)
  await new Promise<void>((done) => {
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
  clearInterval(timer)
  await device.close()
  return 0
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'reader':
      return runReader(rest)
    case 'demo':
      process.argv = [process.argv[0]!, 'simulators/demo.ts', ...rest]
      await import('./demo.js')
      return new Promise(() => {}) // demo.ts exits the process itself
    case 'bench':
      process.argv = [process.argv[0]!, 'simulators/bench.ts', ...rest]
      await import('./bench.js')
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
