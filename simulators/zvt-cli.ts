// `wristpay-sim zvt`: the simulated ZVT card terminal from the command line,
// listening on TCP like a LAN terminal (port 20007) or on a serial device (one
// end of a socat pty pair), so that a real `wristpay-kiosk --terminal zvt-tcp:...`
// or `zvt:/dev/...` can be tried without a terminal. It prints every command
// the ECR sends and every transaction it journals.
import { parseArgs } from 'node:util'
import { attachZvtTerminalToSerialPort, createZvtTerminalSimulator, listenZvtTerminalOnTcp, type ZvtPaymentBehaviour, type ZvtTerminalSimulator } from './zvt-terminal.js'

export const ZVT_USAGE = `  zvt (--listen HOST:PORT | --port PATH [--baud N]) [options]
      Plays a ZVT card terminal: on TCP (bare APDUs, as LAN terminals on port
      20007) or on the serial device PATH (DLE/STX frames, 9600 baud by default).
      It registers, answers status enquiries, takes payments, reverses them by
      receipt number (06 30), repeats the last receipt (06 20) and closes its
      day (06 50) with totals per card type, from its own journal.
      --password N          the 6-digit ECR password (default 123456)
      --terminal-id N       8 digits (default 52000123)
      --mode M              what every payment does: approve (default), decline,
                            abort-without-code, drop-answer (approved at the
                            terminal, the answer never sent, and status enquiries
                            carry no transaction: only a repeat receipt tells)
      --decline-code N      the result code of --mode decline (default 5)
      --unknown-bmps        append bitmaps unknown to the ECR to status information
      --fail-end-of-day N   abort the next end of day with result code N (e.g. 119 = 0x77)
      Ctrl-C stops. Example: wristpay-sim zvt --listen 127.0.0.1:20007, then
        wristpay-kiosk --terminal zvt-tcp:127.0.0.1:20007 ...`

export type ZvtCliMode = 'approve' | 'decline' | 'abort-without-code' | 'drop-answer'

export interface ZvtCliOptions {
  listen?: { host: string; port: number }
  serialPath?: string
  baudRate: number
  password: string
  terminalId: string
  mode: ZvtCliMode
  declineCode: number
  unknownBmps: boolean
  failEndOfDay?: number
}

function byteOption(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new TypeError(`--${name} must be a byte (0-255), got ${JSON.stringify(value)}`)
  return n
}

/** Reads the flags of `wristpay-sim zvt`; throws TypeError with a message for the user. */
export function parseZvtArgs(argv: string[]): ZvtCliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      listen: { type: 'string' },
      port: { type: 'string' },
      baud: { type: 'string' },
      password: { type: 'string' },
      'terminal-id': { type: 'string' },
      mode: { type: 'string' },
      'decline-code': { type: 'string' },
      'unknown-bmps': { type: 'boolean' },
      'fail-end-of-day': { type: 'string' },
    },
  })
  if ((values.listen === undefined) === (values.port === undefined)) throw new TypeError('zvt needs exactly one of --listen HOST:PORT and --port PATH')
  let listen: ZvtCliOptions['listen']
  if (values.listen !== undefined) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(values.listen)
    const port = m ? Number(m[2]) : NaN
    if (!m || port > 65_535) throw new TypeError(`--listen takes HOST:PORT (e.g. 127.0.0.1:20007), got ${JSON.stringify(values.listen)}`)
    listen = { host: m[1]!.replace(/^\[|\]$/g, ''), port }
  }
  const password = values.password ?? '123456'
  if (!/^[0-9]{6}$/.test(password)) throw new TypeError('--password must be 6 digits')
  const terminalId = values['terminal-id'] ?? '52000123'
  if (!/^[0-9]{8}$/.test(terminalId)) throw new TypeError('--terminal-id must be 8 digits')
  const mode = (values.mode ?? 'approve') as ZvtCliMode
  if (!['approve', 'decline', 'abort-without-code', 'drop-answer'].includes(mode)) throw new TypeError(`--mode must be approve, decline, abort-without-code or drop-answer, got ${JSON.stringify(values.mode)}`)
  const baudRate = values.baud === undefined ? 9_600 : Number(values.baud)
  if (!Number.isInteger(baudRate) || baudRate <= 0) throw new TypeError('--baud must be a positive integer')
  return {
    ...(listen ? { listen } : {}),
    ...(values.port !== undefined ? { serialPath: values.port } : {}),
    baudRate,
    password,
    terminalId,
    mode,
    declineCode: values['decline-code'] === undefined ? 0x05 : byteOption('decline-code', values['decline-code']),
    unknownBmps: values['unknown-bmps'] ?? false,
    ...(values['fail-end-of-day'] !== undefined ? { failEndOfDay: byteOption('fail-end-of-day', values['fail-end-of-day']) } : {}),
  }
}

function behaviourOf(options: ZvtCliOptions): ZvtPaymentBehaviour {
  switch (options.mode) {
    case 'approve':
      return { kind: 'approve', intermediate: [0x0a] }
    case 'decline':
      return { kind: 'decline', resultCode: options.declineCode }
    case 'abort-without-code':
      return { kind: 'abortWithoutCode' }
    case 'drop-answer':
      return { kind: 'timeout', outcome: 'approved' }
  }
}

export interface RunningZvtTerminal {
  terminal: ZvtTerminalSimulator
  /** Where it listens: "tcp 127.0.0.1:20007" or "serial /dev/...". */
  where: string
  /** The TCP port (the real one when 0 was asked for). */
  port?: number
  close(): Promise<void>
}

/** Starts the simulated terminal as the flags say and prints what it does through `say`. */
export async function startZvtTerminalCommand(options: ZvtCliOptions, say: (line: string) => void): Promise<RunningZvtTerminal> {
  const terminal = createZvtTerminalSimulator({
    password: options.password,
    terminalId: options.terminalId,
    behaviour: behaviourOf(options),
    misbehave: {
      ...(options.unknownBmps ? { unknownBmpsInStatus: true } : {}),
      ...(options.mode === 'drop-answer' ? { enquiryWithoutTransaction: true } : {}),
      ...(options.failEndOfDay !== undefined ? { failEndOfDay: options.failEndOfDay } : {}),
    },
    transport: options.listen ? 'tcp' : 'serial',
  })
  terminal.on('command', (m: { kind: string; amountCents?: number; receiptNumber?: string }) =>
    say(`ecr: ${m.kind}${m.amountCents !== undefined ? ` ${m.amountCents} cents` : ''}${m.receiptNumber !== undefined ? ` receipt ${m.receiptNumber}` : ''}`),
  )
  terminal.on('transaction', (t: { kind: string; amountCents: number; resultCode: number; traceNumber: string; receiptNumber: string }) =>
    say(`journal: ${t.kind} ${t.amountCents} cents, result ${t.resultCode.toString(16).padStart(2, '0')}, trace ${t.traceNumber}, receipt ${t.receiptNumber}`),
  )
  if (options.listen) {
    const listener = await listenZvtTerminalOnTcp({ terminal, host: options.listen.host, port: options.listen.port })
    const where = `tcp ${listener.host}:${listener.port}`
    say(`ZVT terminal ${options.terminalId} (${options.mode}) listening on ${where}`)
    return { terminal, where, port: listener.port, close: () => listener.close() }
  }
  const device = await attachZvtTerminalToSerialPort({ path: options.serialPath!, baudRate: options.baudRate, terminal })
  const where = `serial ${options.serialPath} at ${options.baudRate} baud`
  say(`ZVT terminal ${options.terminalId} (${options.mode}) on ${where}`)
  return { terminal, where, close: () => device.close() }
}

/** `wristpay-sim zvt ...`: runs until Ctrl-C (or SIGTERM). */
export async function runZvtCommand(argv: string[]): Promise<number> {
  const running = await startZvtTerminalCommand(parseZvtArgs(argv), (line) => console.log(line))
  await new Promise<void>((done) => {
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
  await running.close()
  return 0
}
