// POST /admin/kiosks/:id/commands: an admin operator sends a kiosk a remote
// command and gets its answer. Behind the admin token like every admin route,
// and also the operator's own credentials (Wristpay-Operator: name:token) of an
// account with the admin role: the command carries who sent it, and read-only
// operators may not command kiosks (README "Remote commands").
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { CommandAnswer, KIOSK_COMMANDS, KioskId } from '../../device-protocol/index.js'
import { operatorOfRequest, type OperatorAuth } from '../four-eyes/operator-credentials.js'
import { ErrorBody, HttpError, errorResponses } from '../http.js'
import type { KioskCommands } from './kiosk-commands.js'

const KioskParams = Type.Object({ id: KioskId }, { additionalProperties: false })
const CommandBody = Type.Object(
  {
    command: Type.Enum(KIOSK_COMMANDS),
    /** lock: why, shown on the kiosk's screen. */
    reason: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
)

/** How long the route waits for a kiosk's answer (the command expires then too). */
export const ADMIN_COMMAND_TIMEOUT_MS = 10_000

export interface KioskCommandsAdminDeps {
  commands: Pick<KioskCommands, 'send'>
  kioskExists: (kioskId: string) => boolean
  /** Operator accounts with the admin role only. */
  adminOperatorAuth: OperatorAuth
  /** Every operator account (to tell a read-only operator from a wrong token). */
  operatorAuth: OperatorAuth
  timeoutMs?: number
}

export function kioskCommandsAdmin(deps: KioskCommandsAdminDeps): FastifyPluginAsync {
  const refusals = {
    missing: 'sending a kiosk a command needs an admin operator\'s own credentials (Wristpay-Operator: name:token)',
    notAnAccount: 'the Wristpay-Operator credentials are not an operator account',
  }
  return async (scope) => {
    scope.post<{ Params: Static<typeof KioskParams>; Body: Static<typeof CommandBody> }>(
      '/kiosks/:id/commands',
      { schema: { params: KioskParams, body: CommandBody, response: { 200: CommandAnswer, 403: ErrorBody, 504: ErrorBody, ...errorResponses } } },
      async (request) => {
        const by = operatorOfRequest(request, deps.operatorAuth, refusals)
        // The same header again, now against the admin accounts: the name is an account, so only the role can be missing.
        try {
          operatorOfRequest(request, deps.adminOperatorAuth, refusals)
        } catch {
          throw new HttpError(403, 'operator_not_admin', `operator '${by}' has no admin role: only admin operators send kiosks commands`)
        }
        const kioskId = request.params.id
        if (!deps.kioskExists(kioskId)) throw new HttpError(404, 'unknown_kiosk', `kiosk '${kioskId}' is not in the event set-up`)
        const { command, reason } = request.body
        let answer
        try {
          answer = await deps.commands.send({ kioskId, command, by, timeoutMs: deps.timeoutMs ?? ADMIN_COMMAND_TIMEOUT_MS, ...(reason === undefined ? {} : { reason }) })
        } catch {
          throw new HttpError(503, 'kiosk_command_not_sent', `the command could not be published to kiosk '${kioskId}'`)
        }
        if (answer.status === 'timeout') throw new HttpError(504, 'kiosk_command_timeout', `kiosk '${kioskId}' did not answer in time; the command has expired and will not run later`)
        return answer
      },
    )
  }
}
