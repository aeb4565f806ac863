// `wristpay-sim reader` and `wristpay-sim tap`: a person plays the guest at a
// simulated reader board. Taps come on demand (a key on the terminal, a line
// "tap UID" on stdin, or `wristpay-sim tap UID` through a local control
// socket) and, when --interval-ms is above 0, on a timer as before. Parsing and
// the commands are pure; the socket is a UNIX socket (local only).
import { createConnection, createServer, type Server } from 'node:net'
import { chmodSync, lstatSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { TAG_TYPES, normaliseUid } from '../device-protocol/index.js'

export interface ReaderCliOptions {
  port: string
  uids: string[]
  /** Automatic taps every this many ms; 0: only on demand. */
  intervalMs: number
  holdMs: number
  type: string
  /** UNIX socket that `wristpay-sim tap` sends commands to. */
  control?: string
}

export const DEFAULT_UID = '04A1B2C3D4E5F6'

function uidList(text: string): string[] {
  const uids = text.split(',').map((u) => normaliseUid(u.trim()))
  if (uids.length === 0 || uids.some((u) => u === null)) throw new TypeError('--uids must be hex UIDs of 4, 7 or 10 bytes, comma-separated')
  return uids as string[]
}

function tagType(text: string): string {
  if (!TAG_TYPES.includes(text)) throw new TypeError(`--type must be one of ${TAG_TYPES.join(', ')}`)
  return text
}

/** `wristpay-sim reader` options; throws a TypeError with a readable message. */
export function parseReaderArgs(argv: string[]): ReaderCliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      uids: { type: 'string', default: DEFAULT_UID },
      'interval-ms': { type: 'string', default: '3000' },
      'hold-ms': { type: 'string', default: '800' },
      type: { type: 'string', default: 'ntag215' },
      control: { type: 'string' },
    },
  })
  if (!values.port) throw new TypeError('reader needs --port PATH')
  const intervalMs = Number(values['interval-ms'])
  const holdMs = Number(values['hold-ms'])
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) throw new TypeError('--interval-ms must be a whole number of ms (0: tap only on demand)')
  if (!Number.isSafeInteger(holdMs) || holdMs <= 0) throw new TypeError('--hold-ms must be a positive whole number of ms')
  if (intervalMs > 0 && holdMs >= intervalMs) throw new TypeError('--hold-ms must be shorter than --interval-ms')
  const options: ReaderCliOptions = { port: values.port, uids: uidList(values.uids), intervalMs, holdMs, type: tagType(values.type) }
  if (values.control !== undefined) options.control = values.control
  return options
}

export type TapCommand =
  /** A tap of `uid` (default: the next of the list), of `type` (default: the reader's --type). */
  | { kind: 'tap'; uid?: string; type?: string }
  | { kind: 'remove' }
  | { kind: 'list' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'empty' }
  | { kind: 'error'; message: string }

export const COMMANDS_HELP = `Commands (one a line on stdin, or through --control with wristpay-sim tap):
  tap [UID [TYPE]]   present a wristband (default: the next of --uids) for --hold-ms
  tap N              present the N-th wristband of --uids (from 1)
  remove             take the wristband away now
  list               show the wristbands of --uids
  help               this text
  quit               stop the reader
On a terminal, keys do it: 1-9 tap that wristband of --uids, space or Enter the next one, r removes, q quits.`

/** One line of text as a command; never throws. */
export function parseTapCommand(line: string, uids: readonly string[]): TapCommand {
  const words = line.trim().split(/\s+/).filter((w) => w !== '')
  if (words.length === 0) return { kind: 'empty' }
  const [verb, ...rest] = words
  switch (verb!.toLowerCase()) {
    case 'tap': {
      if (rest.length === 0) return { kind: 'tap' }
      if (rest.length > 2) return { kind: 'error', message: 'tap takes a UID (or a number of --uids) and optionally a tag type' }
      const [which, type] = rest as [string, string | undefined]
      let uid: string | null
      if (/^[1-9][0-9]?$/.test(which)) {
        uid = uids[Number(which) - 1] ?? null
        if (uid === null) return { kind: 'error', message: `there are ${uids.length} wristbands in --uids` }
      } else uid = normaliseUid(which)
      if (uid === null) return { kind: 'error', message: `${JSON.stringify(which.slice(0, 40))} is not a UID (hex, 4, 7 or 10 bytes)` }
      if (type !== undefined && !TAG_TYPES.includes(type)) return { kind: 'error', message: `tag type must be one of ${TAG_TYPES.join(', ')}` }
      return type === undefined ? { kind: 'tap', uid } : { kind: 'tap', uid, type }
    }
    case 'remove':
      return rest.length === 0 ? { kind: 'remove' } : { kind: 'error', message: 'remove takes nothing' }
    case 'list':
      return { kind: 'list' }
    case 'help':
    case '?':
      return { kind: 'help' }
    case 'quit':
    case 'exit':
      return { kind: 'quit' }
    default:
      return { kind: 'error', message: `unknown command ${JSON.stringify(verb!.slice(0, 40))}; try help` }
  }
}

/** A key pressed on a terminal (raw mode) as a command, or undefined for keys that mean nothing. */
export function keyCommand(key: string, uids: readonly string[]): TapCommand | undefined {
  if (key === '\u0003' || key === 'q') return { kind: 'quit' }
  if (key === ' ' || key === '\r' || key === '\n') return { kind: 'tap' }
  if (key === 'r') return { kind: 'remove' }
  if (key === '?' || key === 'h') return { kind: 'help' }
  if (/^[1-9]$/.test(key)) {
    const uid = uids[Number(key) - 1]
    return uid === undefined ? { kind: 'error', message: `there are ${uids.length} wristbands in --uids` } : { kind: 'tap', uid }
  }
  return undefined
}

/** What the simulated reader board offers the tapper (ReaderFirmware). */
export interface TapTarget {
  present(uid: string, type: string): void
  remove(): void
}

export interface Tapper {
  /** Runs a command; returns what to print (one line or more), or undefined for nothing. */
  run(command: TapCommand): string | undefined
  /** Whether a quit command was run. */
  readonly quitting: boolean
  stop(): void
}

/** Runs tap commands on the reader: a tap presents the wristband and takes it away after holdMs. */
export function createTapper(options: { target: TapTarget; uids: readonly string[]; type: string; holdMs: number }): Tapper {
  const { target, uids, type, holdMs } = options
  let next = 0
  let removeTimer: NodeJS.Timeout | undefined
  let quitting = false
  const remove = () => {
    clearTimeout(removeTimer)
    removeTimer = undefined
    target.remove()
  }
  return {
    get quitting() {
      return quitting
    },
    run(command) {
      switch (command.kind) {
        case 'tap': {
          const uid = command.uid ?? uids[next++ % uids.length]!
          const tagType = command.type ?? type
          clearTimeout(removeTimer)
          target.present(uid, tagType)
          removeTimer = setTimeout(remove, holdMs)
          return `tap ${uid} (${tagType})`
        }
        case 'remove':
          remove()
          return 'removed'
        case 'list':
          return uids.map((uid, i) => `${i + 1}: ${uid}`).join('\n')
        case 'help':
          return COMMANDS_HELP
        case 'quit':
          quitting = true
          return 'stopping'
        case 'error':
          return `error: ${command.message}`
        case 'empty':
          return undefined
      }
    },
    stop() {
      clearTimeout(removeTimer)
    },
  }
}

/** Longest command line a control client may send. */
const MAX_CONTROL_LINE = 256

/** Removes a socket left at `path`; anything else there (a mistyped --control naming a file) is refused, never deleted. */
function removeStaleSocket(path: string): void {
  let stat
  try {
    stat = lstatSync(path)
  } catch {
    return
  }
  if (!stat.isSocket()) throw new TypeError(`--control ${path} exists and is no socket: name a new path`)
  rmSync(path, { force: true })
}

/**
 * Listens on the UNIX socket `path` for command lines (`wristpay-sim tap`)
 * and answers each with `handle`'s text and a newline. A stale socket file
 * from an earlier run is replaced.
 */
export async function startControlSocket(path: string, handle: (line: string) => string | undefined): Promise<{ close(): Promise<void> }> {
  removeStaleSocket(path)
  const server: Server = createServer((socket) => {
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      buffered += chunk
      if (buffered.length > MAX_CONTROL_LINE && !buffered.includes('\n')) {
        socket.end('error: line too long\n')
        return
      }
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        socket.write(`${handle(line) ?? ''}\n`)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      // Whoever may connect may tap wristbands: the user who started the reader only.
      chmodSync(path, 0o600)
      resolve()
    })
  })
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          removeStaleSocket(path)
          resolve()
        })
      }),
  }
}

/** Sends one command line to a reader's control socket and resolves with its answer. */
export function sendControlCommand(path: string, line: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    let answer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer from the reader at ${path} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${line.replace(/[\r\n]/g, ' ')}\n`))
    socket.on('data', (chunk: string) => {
      answer += chunk
      if (answer.endsWith('\n')) {
        clearTimeout(timer)
        socket.end()
        resolve(answer.trimEnd())
      }
    })
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`no reader listens at ${path}: ${err.message} (start it with wristpay-sim reader --control ${path})`))
    })
  })
}
