// The kiosk's side of remote commands (README "Remote commands"): it reads its
// own cmd topic, checks each command and answers on its cmd/answer topic with
// the command's id. A command is run at most once: its id is remembered (with
// the first answer) for MAX_COMMAND_LIFETIME_MS past its expiry, longer than
// any command may live, and a repeat answers `duplicate` with that first
// answer. A command whose expiresAt has passed by this kiosk's clock is not run
// (`expired`). The broker lets only the gateway and admin operators publish
// here; this module still refuses anything malformed, oversized or meant for
// another kiosk, and never throws on it.
//
// lock / unlock set or clear the remote lock (kept in the outbox database, so
// it survives a restart): while locked the kiosk refuses every operation with
// 'locked' and the lock's message on its screen and in GET /state.
// report_state publishes the state message now and answers with it; reload_config subscribes to the
// retained config again and applies it if it is newer.
import type { Logger } from 'pino'
import {
  MAX_COMMAND_LIFETIME_MS,
  MAX_COMMAND_PAYLOAD_BYTES,
  Uuid,
  createValidator,
  parseJson,
  validateKioskCommand,
  type Clock,
  type CommandAnswer,
  type KioskCommand,
  type KioskState,
} from '../device-protocol/index.js'
import type { FirstAnswer, RemoteCommandStore, RemoteLock } from './remote-command-store.js'

export interface RemoteCommandCounters {
  commandsRun: number
  commandsRefused: number
  commandsExpired: number
  commandsDuplicate: number
  /** Not JSON, too large, or without a usable id: not answered. */
  commandsMalformed: number
}

export interface RemoteCommandsDeps {
  kioskId: string
  clock: Clock
  logger: Logger
  store: RemoteCommandStore
  /** Publishes an answer on the kiosk's cmd/answer topic; false when offline (the sender then times out). */
  publishAnswer(answer: CommandAnswer): boolean
  /** Publishes the state message now and returns it (the report_state answer carries it); null when it could not go out. */
  reportState(): KioskState | null
  /** Fetches the retained config again and applies it when newer; resolves with what happened, in words. */
  reloadConfig(): Promise<string>
  /** The lock changed: the state message and the screen show it. */
  changed(): void
}

export interface RemoteCommands {
  /** A raw payload from the kiosk's cmd topic. Never rejects. */
  handle(payload: Uint8Array): Promise<void>
  /** The remote lock in force, null when unlocked. */
  lock(): RemoteLock | null
  counters(): RemoteCommandCounters
}

/** What a locked kiosk shows the cashier (screen, GET /state, the refusal's message). */
export function lockMessage(lock: RemoteLock): string {
  return `This kiosk was locked by operator ${lock.by}${lock.reason ? ` (${lock.reason})` : ''}: nothing can be sold or booked until an operator unlocks it.`
}

const validateId = createValidator(Uuid)

export function createRemoteCommands(deps: RemoteCommandsDeps): RemoteCommands {
  const { kioskId, clock, store } = deps
  const log = deps.logger
  const counts: RemoteCommandCounters = { commandsRun: 0, commandsRefused: 0, commandsExpired: 0, commandsDuplicate: 0, commandsMalformed: 0 }
  // One command at a time: a repeat that arrives while its first is still running must find it remembered.
  let queue: Promise<void> = Promise.resolve()

  function answer(id: string, command: KioskCommand['command'] | undefined, status: CommandAnswer['status'], extra: Partial<CommandAnswer> = {}): void {
    const message: CommandAnswer = {
      v: 1,
      id,
      kiosk: kioskId,
      ...(command === undefined ? {} : { command }),
      status,
      at: clock.now(),
      locked: store.lock() !== null,
      ...extra,
    }
    if (message.message !== undefined) message.message = message.message.slice(0, 256)
    fitState(message)
    if (!deps.publishAnswer(message)) log.warn({ commandId: id, status }, 'command answer not sent: not connected')
  }

  /** Refuses a command that has an id but cannot be run; remembered only when `remember` (a command meant for this kiosk). */
  function refuse(id: string, command: KioskCommand['command'] | undefined, message: string, keepUntil?: number): void {
    counts.commandsRefused++
    log.warn({ commandId: id, command, reason: message }, 'remote command refused')
    if (keepUntil !== undefined) store.record(id, { status: 'refused', at: clock.now(), message }, keepUntil)
    answer(id, command, 'refused', { message })
  }

  async function run(command: KioskCommand, keepUntil: number): Promise<void> {
    const now = clock.now()
    const done = (message: string): FirstAnswer => ({ status: 'done', at: now, message })
    switch (command.command) {
      case 'lock': {
        const lock: RemoteLock = { by: command.by, ...(command.reason ? { reason: command.reason } : {}), at: now, commandId: command.id }
        const first = done(store.lock() ? 'locked again (it was locked already)' : 'locked')
        store.record(command.id, first, keepUntil, lock)
        log.warn({ commandId: command.id, by: command.by, reason: command.reason }, 'kiosk locked by an operator: every operation is refused until unlocked')
        deps.changed()
        answer(command.id, command.command, 'done', { message: first.message })
        return
      }
      case 'unlock': {
        const first = done(store.lock() ? 'unlocked' : 'was not locked')
        store.record(command.id, first, keepUntil, null)
        log.warn({ commandId: command.id, by: command.by }, 'kiosk unlocked by an operator')
        deps.changed()
        answer(command.id, command.command, 'done', { message: first.message })
        return
      }
      case 'report_state': {
        const first = done('state published')
        store.record(command.id, first, keepUntil)
        const state = deps.reportState()
        answer(command.id, command.command, 'done', { message: first.message, ...(state ? { state } : {}) })
        return
      }
      case 'reload_config': {
        // Remembered before it runs: a repeat arriving meanwhile is a duplicate, never a second run.
        store.record(command.id, done('config reload started'), keepUntil)
        let message: string
        try {
          message = await deps.reloadConfig()
        } catch (err) {
          message = `config reload failed: ${(err as Error).message}`
        }
        store.record(command.id, done(message), keepUntil)
        answer(command.id, command.command, 'done', { message })
        return
      }
    }
  }

  async function handleOne(payload: Uint8Array): Promise<void> {
    const parsed = parseJson(payload, validateKioskCommand, MAX_COMMAND_PAYLOAD_BYTES)
    if (!parsed.ok) {
      // With a usable id the sender learns why; without one there is nobody to answer.
      const id = idOf(payload)
      if (id === undefined) {
        counts.commandsMalformed++
        log.warn({ error: parsed.error, bytes: payload.byteLength }, 'malformed remote command ignored')
        return
      }
      refuse(id, undefined, `invalid command: ${parsed.error}`)
      return
    }
    const command = parsed.value
    if (command.kiosk !== kioskId) {
      refuse(command.id, command.command, `command is for kiosk ${command.kiosk}, this is ${kioskId}`)
      return
    }
    const now = clock.now()
    store.prune(now)
    const first = store.answered(command.id)
    if (first) {
      counts.commandsDuplicate++
      log.info({ commandId: command.id, command: command.command, first: first.status }, 'remote command delivered again: not run twice')
      answer(command.id, command.command, 'duplicate', { first, ...(first.message === undefined ? {} : { message: first.message }) })
      return
    }
    // Remembered past any expiry this kiosk could still accept it under.
    const keepUntil = Math.max(now, command.expiresAt) + MAX_COMMAND_LIFETIME_MS
    if (command.expiresAt - command.issuedAt > MAX_COMMAND_LIFETIME_MS) {
      refuse(command.id, command.command, `a command may live at most ${MAX_COMMAND_LIFETIME_MS} ms`, keepUntil)
      return
    }
    if (now > command.expiresAt) {
      counts.commandsExpired++
      const message = `expired ${now - command.expiresAt} ms ago by the kiosk's clock: not run`
      store.record(command.id, { status: 'expired', at: now, message }, keepUntil)
      log.warn({ commandId: command.id, command: command.command, by: command.by, expiresAt: command.expiresAt }, 'remote command expired before it arrived: not run')
      answer(command.id, command.command, 'expired', { message })
      return
    }
    counts.commandsRun++
    log.info({ commandId: command.id, command: command.command, by: command.by }, 'remote command')
    await run(command, keepUntil)
  }

  return {
    handle(payload) {
      const next = queue.then(() => handleOne(payload)).catch((err: unknown) => log.error({ err }, 'remote command handling failed'))
      queue = next
      return next
    },
    lock: () => store.lock(),
    counters: () => ({ ...counts }),
  }
}

/**
 * Keeps an answer carrying a state within MAX_COMMAND_PAYLOAD_BYTES, which the
 * sender enforces: without the counters first, then without the state (the
 * state topic has it all the same), saying so.
 */
function fitState(answer: CommandAnswer): void {
  const fits = () => Buffer.byteLength(JSON.stringify(answer)) <= MAX_COMMAND_PAYLOAD_BYTES
  if (answer.state === undefined || fits()) return
  const { counters: _counters, ...withoutCounters } = answer.state
  answer.state = withoutCounters
  if (fits()) return
  delete answer.state
  answer.message = `${answer.message ?? ''} (too large for the answer: see the kiosk's state topic)`.trim().slice(0, 256)
}

/** The id of a command that fails its schema, when it has a usable one (to say why it was refused). */
function idOf(payload: Uint8Array): string | undefined {
  if (payload.byteLength > MAX_COMMAND_PAYLOAD_BYTES) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(payload).toString('utf8'))
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined
    return validateId(id).ok ? (id as string) : undefined
  } catch {
    return undefined
  }
}
