// The operator console (README "The operator console"), mounted at /console/:
// the page and its two browser bundles, the page's config (where the MQTT
// WebSocket listener is) and the operators' HTTP API under /console/api/.
//
// The live picture does not come through here: the page reads
// `gateway/state` and `events/alert` itself over MQTT over WebSocket with the
// operator's own account, under the broker's ACLs. The API authenticates every
// request with the operator's own credentials (`Wristpay-Operator: name:token`,
// no admin token): any operator account may read open debts and cash shift
// reports, only accounts with the admin role may act (including making kiosks
// and their registration codes), and every action is logged with the
// operator's name.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { sendServedFile } from '../../portal-api/index.js'
import Type, { type Static } from 'typebox'
import { CommandAnswer, KioskId, TagUid } from '../../device-protocol/index.js'
import type { KioskCommandResult, SendKioskCommand } from '../commands/index.js'
import { operatorAccountsAuth, operatorOfRequest } from '../four-eyes/operator-credentials.js'
import { ErrorBody, HttpError, errorResponses } from '../http.js'
import type { Ledger } from '../ledger/index.js'
import { DebtBody, setWristbandBlocked, ShiftReportBody } from '../operations-admin.js'
import { createKioskWithCode, issueRegistrationCodeReply, NewKioskBody, RegistrationCodeReply, type KioskEnrollmentDeps } from '../kiosk-enrollment.js'
import type { Registry } from '../registry/index.js'
import { loadConsoleFiles } from './static-files.js'

export interface ConsoleOperator {
  name: string
  token: string
  roles?: readonly string[]
}

export interface OperatorConsoleDeps {
  /** The config's operator accounts; those with roles ['admin'] may act. */
  operators: readonly ConsoleOperator[]
  ledger: Pick<Ledger, 'debts' | 'shiftReports' | 'wristband'> & { registry: Pick<Registry, 'setWristbandBlocked' | 'refreshKioskConfigs' | 'kioskIds'> }
  /** Republishes the retained configs of these kiosks, or of every kiosk. */
  publishKioskConfigs(kioskIds?: readonly string[]): Promise<void>
  /** The gateway's sender of kiosk commands (gateway/commands/); lock and unlock answer 503 commands_unavailable without it. */
  sendKioskCommand?: (request: SendKioskCommand) => Promise<KioskCommandResult>
  /** The MQTT-over-WebSocket listener as the page must reach it, or null when it is off. */
  mqttWebSocket(): { port: number; tls?: boolean } | null
  /** Kiosk enrollment by registration code (gateway/kiosk-enrollment.ts); without it the console cannot make kiosks or codes. */
  enrollment?: KioskEnrollmentDeps
  /** How long lock and unlock wait for the kiosk's answer. */
  commandTimeoutMs?: number
  /** Folder of the page's own files (tests); web/ next to this module by default. */
  webDir?: string
}

/** How long a lock or unlock from the console waits for the kiosk (the command expires then too). */
export const CONSOLE_COMMAND_TIMEOUT_MS = 10_000

/**
 * The page loads nothing from elsewhere and is never framed. connect-src allows
 * ws:/wss: because the MQTT WebSocket listener has its own port, which 'self'
 * does not cover.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  // mqtt.js keeps its keep-alive timers in a worker made from a blob, so that a background tab stays connected.
  "worker-src blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const ConsoleConfig = Type.Object(
  {
    /** Where the page connects for MQTT over WebSocket (host: the page's own), or null when the listener is off. */
    mqtt: Type.Union([Type.Object({ port: Type.Integer(), path: Type.String(), tls: Type.Boolean() }, { additionalProperties: false }), Type.Null()]),
  },
  { additionalProperties: false },
)
const WhoAmI = Type.Object({ name: Type.String(), admin: Type.Boolean() }, { additionalProperties: false })
const WristbandParams = Type.Object({ uid: TagUid }, { additionalProperties: false })
const BlockBody = Type.Object({ blocked: Type.Boolean() }, { additionalProperties: false })
const BlockReply = Type.Object({ uid: Type.String(), blocked: Type.Boolean(), kiosksUpdated: Type.Integer() }, { additionalProperties: false })
const PushReply = Type.Object({ kiosks: Type.Integer() }, { additionalProperties: false })
const KioskCommandParams = Type.Object({ id: KioskId, command: Type.Union([Type.Literal('lock'), Type.Literal('unlock')]) }, { additionalProperties: false })
const KioskParams = Type.Object({ id: KioskId }, { additionalProperties: false })
const CodeBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()])
const LockBody = Type.Union([Type.Object({ reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), Type.Null()])

/** Errors the API answers besides the shared ones (schemas for the OpenAPI document). */
const apiErrors = { 403: ErrorBody, 504: ErrorBody, ...errorResponses }
const enrollmentErrors = { 403: ErrorBody, 409: ErrorBody, ...errorResponses }

export function operatorConsole(deps: OperatorConsoleDeps): FastifyPluginAsync {
  const files = loadConsoleFiles(deps.webDir)
  const operatorAuth = operatorAccountsAuth(deps.operators)
  const adminAuth = operatorAccountsAuth(deps.operators.filter((op) => op.roles?.includes('admin')))
  const refusals = {
    missing: "the operator console's API needs the operator's own credentials (Wristpay-Operator: name:token)",
    notAnAccount: 'the Wristpay-Operator credentials are not an operator account',
  }
  const operatorOf = (request: FastifyRequest) => operatorOfRequest(request, operatorAuth, refusals)
  /** The operator, who must have the admin role (403 operator_not_admin otherwise). */
  const adminOf = (request: FastifyRequest, what: string): string => {
    const name = operatorOf(request)
    try {
      operatorOfRequest(request, adminAuth, refusals)
    } catch {
      throw new HttpError(403, 'operator_not_admin', `operator '${name}' has no admin role: only admin operators may ${what}`)
    }
    return name
  }
  const isAdmin = (request: FastifyRequest): boolean => {
    try {
      operatorOfRequest(request, adminAuth, refusals)
      return true
    } catch {
      return false
    }
  }

  return async (scope) => {
    const hidden = { schema: { hide: true } }
    // `/console` without the slash would make the page's relative URLs resolve against `/`.
    scope.get('', hidden, async (request, reply) => reply.redirect(`${request.url.split('?')[0]}/`, 301))
    scope.get('/', { ...hidden, prefixTrailingSlash: 'slash' }, async (request, reply) => sendServedFile(request, reply, CONTENT_SECURITY_POLICY, files.get('index.html')!))
    for (const name of files.keys()) {
      if (name !== 'index.html') scope.get(`/${name}`, hidden, async (request, reply) => sendServedFile(request, reply, CONTENT_SECURITY_POLICY, files.get(name)!))
    }

    scope.get('/config.json', { schema: { response: { 200: ConsoleConfig } } }, async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      const listener = deps.mqttWebSocket()
      return { mqtt: listener ? { port: listener.port, path: '/mqtt', tls: listener.tls === true } : null }
    })

    scope.get('/api/whoami', { schema: { response: { 200: WhoAmI, ...apiErrors } } }, async (request) => ({ name: operatorOf(request), admin: isAdmin(request) }))

    scope.get('/api/debts', { schema: { response: { 200: Type.Array(DebtBody), ...apiErrors } } }, async (request) => {
      operatorOf(request)
      return deps.ledger.debts().filter((debt) => debt.open)
    })

    scope.get('/api/shifts', { schema: { response: { 200: Type.Array(ShiftReportBody), ...apiErrors } } }, async (request) => {
      operatorOf(request)
      return deps.ledger.shiftReports()
    })

    scope.put<{ Params: Static<typeof WristbandParams>; Body: Static<typeof BlockBody> }>(
      '/api/wristbands/:uid/blocked',
      { schema: { params: WristbandParams, body: BlockBody, response: { 200: BlockReply, ...apiErrors } } },
      async (request) => {
        const operator = adminOf(request, 'block or unblock wristbands')
        const result = await setWristbandBlocked(deps, request.params.uid, request.body.blocked)
        request.log.info({ operator, uid: result.uid, blocked: result.blocked, kiosks: result.kiosksUpdated }, 'console: wristband block set by an operator')
        return result
      },
    )

    scope.post('/api/event/push', { schema: { response: { 200: PushReply, ...apiErrors } } }, async (request) => {
      const operator = adminOf(request, 'push the event set-up')
      // Every kiosk's retained config again: a till that missed an update (or was reset) gets it now.
      const kiosks = deps.ledger.registry.kioskIds().length
      await deps.publishKioskConfigs()
      request.log.info({ operator, kiosks }, 'console: event set-up pushed to every kiosk again by an operator')
      return { kiosks }
    })

    const enrollment = deps.enrollment
    if (enrollment !== undefined) {
      // Enrollment as the admin API does it (the same functions), in the operator's name. The code goes to the page only, never to the log.
      scope.post<{ Body: NewKioskBody }>('/api/kiosks', { schema: { body: NewKioskBody, response: { 201: RegistrationCodeReply, ...enrollmentErrors } } }, async (request, reply) => {
        const operator = adminOf(request, 'make kiosks')
        const answer = await createKioskWithCode(enrollment, request, request.body)
        request.log.info({ operator, kioskId: answer.kioskId, booth: answer.booth, expiresAt: answer.expiresAt }, 'console: kiosk made by an operator, registration code issued')
        return reply.code(201).send(answer)
      })
      scope.post<{ Params: Static<typeof KioskParams> }>(
        '/api/kiosks/:id/registration-code',
        { schema: { params: KioskParams, body: CodeBody, response: { 200: RegistrationCodeReply, ...enrollmentErrors } } },
        async (request) => {
          const operator = adminOf(request, 'issue registration codes')
          const answer = await issueRegistrationCodeReply(enrollment, request, request.params.id, undefined)
          request.log.info({ operator, kioskId: answer.kioskId, expiresAt: answer.expiresAt }, 'console: registration code issued by an operator')
          return answer
        },
      )
    }

    scope.post<{ Params: Static<typeof KioskCommandParams>; Body: Static<typeof LockBody> }>(
      '/api/kiosks/:id/:command',
      { schema: { params: KioskCommandParams, body: LockBody, response: { 200: CommandAnswer, ...apiErrors } } },
      async (request) => {
        const { id: kioskId, command } = request.params
        const operator = adminOf(request, 'lock or unlock kiosks')
        if (!deps.ledger.registry.kioskIds().includes(kioskId)) throw new HttpError(404, 'unknown_kiosk', `kiosk '${kioskId}' is not in the event set-up`)
        if (deps.sendKioskCommand === undefined) throw new HttpError(503, 'commands_unavailable', 'this gateway cannot send kiosks commands')
        const reason = command === 'lock' ? request.body?.reason : undefined
        request.log.info({ operator, kioskId, command }, `console: ${command} sent to a kiosk by an operator`)
        let answer: KioskCommandResult
        try {
          answer = await deps.sendKioskCommand({ kioskId, command, by: operator, timeoutMs: deps.commandTimeoutMs ?? CONSOLE_COMMAND_TIMEOUT_MS, ...(reason ? { reason } : {}) })
        } catch {
          throw new HttpError(503, 'kiosk_command_not_sent', `the command could not be published to kiosk '${kioskId}'`)
        }
        if (answer.status === 'timeout') throw new HttpError(504, 'kiosk_command_timeout', `kiosk '${kioskId}' did not answer in time; the command has expired and will not run later`)
        request.log.info({ operator, kioskId, command, status: answer.status }, `console: kiosk answered ${command}`)
        return answer
      },
    )
  }
}
