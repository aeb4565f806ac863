// The gateway's side of remote kiosk commands (README "Remote commands"): it
// publishes a KioskCommand on the kiosk's cmd topic and waits for the kiosk's
// CommandAnswer with the same id, or answers `timeout`. The command expires
// when the wait does, so a kiosk that comes back later does not run something
// its operator was already told had failed. The gateway, its admin route and
// the operator console all send through this one sender.
import type { Logger } from 'pino'
import {
  MAX_COMMAND_LIFETIME_MS,
  MAX_COMMAND_PAYLOAD_BYTES,
  parseJson,
  topics,
  validateCommandAnswer,
  type Clock,
  type CommandAnswer,
  type KioskCommand,
  type KioskCommandName,
} from '../../device-protocol/index.js'

export type KioskCommandResult = CommandAnswer | { status: 'timeout' }

export interface SendKioskCommand {
  kioskId: string
  command: KioskCommandName
  /** Who sends it (an operator's name): carried in the command, shown on a locked kiosk, logged. */
  by: string
  /** How long to wait for the answer; the command expires then too. At most MAX_COMMAND_LIFETIME_MS. */
  timeoutMs?: number
  /** lock: why (shown on the kiosk's screen). */
  reason?: string
}

export interface KioskCommands {
  /**
   * Publishes the command and resolves with the kiosk's answer, or `{ status: 'timeout' }` when
   * none came within timeoutMs. Rejects only when the command cannot be published at all.
   */
  send(request: SendKioskCommand): Promise<KioskCommandResult>
  /** Feeds a message a kiosk published on its own cmd/answer topic (the broker's hook). */
  handleAnswer(kioskId: string, payload: Uint8Array): void
  /** Answers every waiting send with timeout (the gateway is stopping). */
  close(): void
}

export interface KioskCommandsDeps {
  /** Publishes on the broker (QoS 1, not retained); rejects when it cannot. */
  publish: (topic: string, payload: string) => Promise<void>
  clock: Clock
  /** A fresh UUID for each command (its correlation id). */
  newId: () => string
  logger: Logger
  /** Timers; setTimeout by default (tests may drive them). */
  setTimer?: (fn: () => void, ms: number) => () => void
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000

const defaultSetTimer = (fn: () => void, ms: number): (() => void) => {
  const timer = setTimeout(fn, ms)
  timer.unref?.()
  return () => clearTimeout(timer)
}

interface Waiting {
  kioskId: string
  command: KioskCommand
  resolve: (result: KioskCommandResult) => void
  cancelTimer: () => void
}

export function createKioskCommands(deps: KioskCommandsDeps): KioskCommands {
  const log = deps.logger
  const setTimer = deps.setTimer ?? defaultSetTimer
  const waiting = new Map<string, Waiting>()

  function finish(id: string, result: KioskCommandResult): void {
    const entry = waiting.get(id)
    if (!entry) return
    waiting.delete(id)
    entry.cancelTimer()
    const { command } = entry
    // Every command is logged with who sent it and what came of it.
    log.info(
      { kioskId: entry.kioskId, commandId: id, command: command.command, by: command.by, status: result.status, ...('message' in result && result.message ? { answerMessage: result.message } : {}) },
      `kiosk command ${command.command} by ${command.by} to ${entry.kioskId}: ${result.status}`,
    )
    entry.resolve(result)
  }

  return {
    async send({ kioskId, command, by, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS, reason }) {
      const waitMs = Math.max(1, Math.min(Math.trunc(timeoutMs), MAX_COMMAND_LIFETIME_MS))
      const issuedAt = deps.clock.now()
      const message: KioskCommand = {
        v: 1,
        id: deps.newId(),
        kiosk: kioskId,
        command,
        by,
        ...(reason !== undefined ? { reason } : {}),
        issuedAt,
        expiresAt: issuedAt + waitMs,
      }
      const result = new Promise<KioskCommandResult>((resolve) => {
        const cancelTimer = setTimer(() => finish(message.id, { status: 'timeout' }), waitMs)
        waiting.set(message.id, { kioskId, command: message, resolve, cancelTimer })
      })
      log.info({ kioskId, commandId: message.id, command, by, expiresAt: message.expiresAt }, `kiosk command ${command} by ${by} to ${kioskId} sent`)
      try {
        await deps.publish(topics.kioskCmd(kioskId), JSON.stringify(message))
      } catch (err) {
        const entry = waiting.get(message.id)
        waiting.delete(message.id)
        entry?.cancelTimer()
        log.error({ err, kioskId, commandId: message.id, command, by }, 'kiosk command not published')
        throw err
      }
      return result
    },
    handleAnswer(kioskId, payload) {
      const parsed = parseJson(payload, validateCommandAnswer, MAX_COMMAND_PAYLOAD_BYTES)
      if (!parsed.ok) {
        log.warn({ kioskId, error: parsed.error }, 'invalid kiosk command answer ignored')
        return
      }
      const answer = parsed.value
      const entry = waiting.get(answer.id)
      // An answer to a command this gateway did not send (or one that timed out, or from another kiosk) changes nothing.
      if (!entry || entry.kioskId !== kioskId || answer.kiosk !== kioskId) {
        // An admin operator's own MQTT command (the broker logged who sent it), or an answer after the timeout: logged, nothing else.
        log.info({ kioskId, commandId: answer.id, command: answer.command, status: answer.status, ...(answer.message ? { answerMessage: answer.message } : {}) }, `kiosk ${kioskId} answered command ${answer.id}: ${answer.status} (no send of this gateway waits for it)`)
        return
      }
      finish(answer.id, answer)
    },
    close() {
      for (const id of [...waiting.keys()]) finish(id, { status: 'timeout' })
    },
  }
}
