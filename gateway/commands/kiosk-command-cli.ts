// `wristpay-gateway kiosk-command KIOSK COMMAND [--reason TEXT]`: sends a kiosk a
// remote command through the running gateway's admin API (POST
// /admin/kiosks/:id/commands) and prints the kiosk's answer. Who sends it is the
// admin operator whose credentials are in WRISTPAY_OPERATOR (name:token).
import { parseArgs } from 'node:util'
import { KIOSK_COMMANDS, type CommandAnswer, type KioskCommandName } from '../../device-protocol/index.js'
import { askGateway, OPERATOR_ENV, operatorTarget, parseOrUsage, type OperatorCommandIo } from '../admin-command.js'

export const KIOSK_REMOTE_COMMAND_USAGE = `  kiosk-command KIOSK ${KIOSK_COMMANDS.join('|')} [--reason TEXT] [--config FILE] [--url URL]
      Sends a kiosk a remote command and prints its answer: lock (every sale is
      refused, the reason shows on its screen, until unlock), unlock,
      report_state (publish its state now), reload_config (take the retained
      config again). Needs an admin operator in ${OPERATOR_ENV}=name:token.
`

export class KioskRemoteCommandUsageError extends Error {
  override name = 'KioskRemoteCommandUsageError'
}

export interface KioskRemoteCommandArgs {
  kioskId: string
  command: KioskCommandName
  reason?: string
  configFile?: string
  url?: string
}

export function parseKioskRemoteCommandArgs(args: readonly string[]): KioskRemoteCommandArgs {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], strict: true, allowPositionals: true, options: { reason: { type: 'string' }, config: { type: 'string' }, url: { type: 'string' } } })
  } catch (err) {
    throw new KioskRemoteCommandUsageError((err as Error).message)
  }
  const [kioskId, command, ...rest] = parsed.positionals
  if (kioskId === undefined || command === undefined || rest.length > 0) throw new KioskRemoteCommandUsageError('name the kiosk and the command')
  if (!(KIOSK_COMMANDS as readonly string[]).includes(command)) throw new KioskRemoteCommandUsageError(`the command must be one of ${KIOSK_COMMANDS.join(', ')}`)
  const { reason, config, url } = parsed.values
  if (reason !== undefined && command !== 'lock') throw new KioskRemoteCommandUsageError('--reason belongs to lock')
  return { kioskId, command: command as KioskCommandName, ...(reason === undefined ? {} : { reason }), ...(config === undefined ? {} : { configFile: config }), ...(url === undefined ? {} : { url }) }
}

/** Resolves with the exit code: 0 the kiosk ran it, 1 refused (by the gateway or the kiosk), not answered or unreachable, 2 usage or config. */
export async function runKioskRemoteCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: OperatorCommandIo): Promise<number> {
  const command = parseOrUsage(() => parseKioskRemoteCommandArgs(args), KioskRemoteCommandUsageError, KIOSK_REMOTE_COMMAND_USAGE, io)
  if (command === 2) return 2
  const target = operatorTarget(command, env, io)
  if (target === 2) return 2
  const body = { command: command.command, ...(command.reason === undefined ? {} : { reason: command.reason }) }
  const answer = await askGateway(target, { method: 'POST', path: `/kiosks/${encodeURIComponent(command.kioskId)}/commands`, body }, io)
  if (answer === 1) return 1
  const reply = answer.json as CommandAnswer
  io.stdout(`${reply.kiosk}: ${reply.command ?? command.command} ${reply.status}${reply.message ? `: ${reply.message}` : ''}${reply.locked === undefined ? '' : reply.locked ? ' (locked)' : ' (unlocked)'}\n`)
  return reply.status === 'done' || reply.status === 'duplicate' ? 0 : 1
}
