// Enrolling kiosks by registration code over HTTP. Two sides:
//  - the admin API (inside /admin, behind its token): an operator makes a
//    kiosk (POST /admin/kiosks) or asks for a new code for one that exists
//    (POST /admin/kiosks/{id}/registration-code, for a replaced Pi), and gets
//    the code, when it expires, the command line to run on the Pi and that
//    line as a QR code (SVG and a data URL, for the console);
//  - POST /enroll, outside /admin: the Pi has only the code. It sends the code
//    with its public key and gets its kiosk id, booth and MQTT credentials.
//    Wrong, spent and expired codes count against the sender's address
//    (login-throttle.ts, as failed MQTT logins do), so guessing is bounded
//    per address on top of the code's 80 bits.
// The registry (registry/enrollment.ts) does the bookkeeping; this module
// speaks HTTP, and ends the kiosk's live MQTT connection after an enrollment
// (its old token no longer logs in; the new Pi logs in with the new one).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import QRCode from 'qrcode'
import Type, { type Static } from 'typebox'
import type { Logger } from 'pino'
import { KioskId, type Clock } from '../device-protocol/index.js'
import { ErrorBody, HttpError, errorResponses } from './http.js'
import { createLoginThrottle, type LoginThrottleLimits } from './login-throttle.js'
import { EnrollmentError, newKioskToken } from './registry/enrollment.js'
import { KioskKeyError, parseKioskPublicKey } from './registry/kiosk-public-key.js'
import type { Registry } from './registry/index.js'
import { sourceAddressKey } from './source-address.js'

/** How long a registration code works when the config does not say: a day. */
export const DEFAULT_REGISTRATION_CODE_TTL_MS = 24 * 3_600_000

/** Wrong codes per address before it waits; the wait doubles from a minute up to an hour. */
export const DEFAULT_ENROLL_THROTTLE: LoginThrottleLimits = {
  failuresBeforeBlock: 5,
  blockBaseMs: 60_000,
  blockMaxMs: 3_600_000,
  forgetAfterMs: 24 * 3_600_000,
  maxTrackedAddresses: 10_000,
}

const Url = Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048 })

const CodeRequestBody = Type.Object(
  {
    /** The URL the kiosk reaches the gateway's HTTP at, for the command line; default enrollment.gatewayUrl, else the one this request came to. */
    gatewayUrl: Type.Optional(Url),
  },
  { additionalProperties: false },
)

export const NewKioskBody = Type.Object(
  {
    id: KioskId,
    booth: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }),
    /** A till profile of the event set-up; overrides the two flags. */
    profile: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    saleAllowed: Type.Optional(Type.Boolean()),
    topupAllowed: Type.Optional(Type.Boolean()),
    gatewayUrl: Type.Optional(Url),
  },
  { additionalProperties: false },
)
export type NewKioskBody = Static<typeof NewKioskBody>

export const RegistrationCodeReply = Type.Object(
  {
    kioskId: KioskId,
    booth: Type.String(),
    /** The one-time code, grouped: ABCD-EFGH-JKLM-NPQR. Shown once: the gateway keeps only its hash. */
    code: Type.String(),
    /** Unix ms after which the code no longer works. */
    expiresAt: Type.Integer(),
    /** What to run on the Pi. */
    enrollCommand: Type.String(),
    /** The command line as a QR code. */
    qr: Type.Object({ svg: Type.String(), dataUrl: Type.String() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)
export type RegistrationCodeReply = Static<typeof RegistrationCodeReply>

export const EnrollBody = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 64 }),
    /** The kiosk's raw 32-byte Ed25519 public key, base64url without padding. */
    publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  },
  { additionalProperties: false },
)
export type EnrollBody = Static<typeof EnrollBody>

export const EnrollReply = Type.Object(
  {
    kioskId: KioskId,
    booth: Type.String(),
    mqtt: Type.Object(
      {
        /** The broker as the kiosk should reach it (enrollment.mqttUrl, else derived from this request and the MQTT listener). */
        url: Type.Optional(Type.String()),
        username: Type.String(),
        /** The kiosk's new MQTT password; its hash replaced the previous one. */
        token: Type.String(),
      },
      { additionalProperties: false },
    ),
    /** The gateway's blocklist signing key (base64url), for the kiosk to pin. */
    gatewayKey: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export type EnrollReply = Static<typeof EnrollReply>

export interface KioskEnrollmentDeps {
  registry: Pick<Registry, 'createKiosk' | 'issueRegistrationCode' | 'redeemRegistrationCode' | 'checkRegistrationCode' | 'kiosk'> & { gatewayKeys: Pick<Registry['gatewayKeys'], 'signingPublicKey'> }
  clock: Clock
  logger: Logger
  /** How long a code works (enrollment.codeTtlMs). */
  codeTtlMs: number
  /** enrollment.gatewayUrl: the gateway as kiosks reach it, for the command line. */
  gatewayUrl?: string
  /** enrollment.mqttUrl: the broker as kiosks reach it. */
  mqttUrl?: string
  /** The MQTT listener (its real port once bound), the configured host, and whether it speaks TLS (mqtt.tls). */
  mqttListener(): MqttListener
  publishKioskConfigs(kioskIds: readonly string[]): Promise<void>
  /** Closes the kiosk's live MQTT connection (made with the token it no longer has). */
  endKioskSessions(retired: readonly string[], newToken: readonly string[]): Promise<void>
  /** Called with a redeemed code's fresh token, before the old sessions end. */
  kioskEnrolled?(kioskId: string, token: string): Promise<void>
  /**
   * An external broker: gives the kiosk's login the token its enrollment will hand out, before the code is
   * spent; false when that failed (the enrollment is then refused as broker_provisioning_failed, changing nothing).
   */
  provisionKioskLogin?(kioskId: string, token: string): Promise<boolean>
  throttle?: Partial<LoginThrottleLimits>
}

export interface MqttListener {
  host: string
  port: number
  tls?: boolean
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]'])
const bracketed = (host: string) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

/** The broker as a kiosk reaches it: a listener on every address at the host the kiosk reached the gateway's HTTP at; mqtts:// with TLS. */
export function brokerUrlFor(listener: MqttListener, requestHostname: string): string {
  const host = WILDCARD_HOSTS.has(listener.host) ? requestHostname : listener.host
  return `${listener.tls ? 'mqtts' : 'mqtt'}://${bracketed(host)}:${listener.port}`
}

/** The command an operator runs on the Pi; the code is quoted for the shell though it needs no quotes. */
export function enrollCommandLine(gatewayUrl: string, code: string): string {
  return `wristpay-kiosk enroll --gateway ${gatewayUrl.replace(/\/+$/, '')} --code ${code}`
}

/** The command line as a QR code: SVG and a PNG data URL (the console shows either); the CLI renders its own for the terminal. */
export async function enrollmentQr(commandLine: string): Promise<{ svg: string; dataUrl: string }> {
  const [svg, dataUrl] = await Promise.all([QRCode.toString(commandLine, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }), QRCode.toDataURL(commandLine, { errorCorrectionLevel: 'M', margin: 2 })])
  return { svg, dataUrl }
}

/**
 * A new one-time code for a kiosk that exists, as the admin API and the console answer it; the
 * code itself never reaches the log. 404 unknown_kiosk for a kiosk that does not take part.
 */
export async function issueRegistrationCodeReply(deps: KioskEnrollmentDeps, request: FastifyRequest, kioskId: string, gatewayUrl: string | undefined): Promise<RegistrationCodeReply> {
  const kiosk = deps.registry.kiosk(kioskId)
  let issued: { code: string; expiresAt: number }
  try {
    if (kiosk === undefined) throw new EnrollmentError('unknown_kiosk', `kiosk '${kioskId}' does not take part`)
    issued = deps.registry.issueRegistrationCode(kioskId, deps.clock.now(), deps.codeTtlMs)
  } catch (err) {
    if (err instanceof EnrollmentError) throw new HttpError(404, 'unknown_kiosk', err.message)
    throw err
  }
  const base = gatewayUrl ?? deps.gatewayUrl ?? `${request.protocol}://${request.host}`
  const enrollCommand = enrollCommandLine(base, issued.code)
  // The code itself never reaches the log.
  request.log.info({ kioskId, expiresAt: issued.expiresAt }, `registration code issued for kiosk ${kioskId}`)
  return { kioskId, booth: kiosk!.booth, code: issued.code, expiresAt: issued.expiresAt, enrollCommand, qr: await enrollmentQr(enrollCommand) }
}

/** Makes a kiosk (its config retained before it can log in) and answers its first code; HttpErrors for what the operator got wrong. */
export async function createKioskWithCode(deps: KioskEnrollmentDeps, request: FastifyRequest, body: NewKioskBody): Promise<RegistrationCodeReply> {
  const { id, booth, profile, saleAllowed = false, topupAllowed = false, gatewayUrl } = body
  if (profile === undefined && !saleAllowed && !topupAllowed) throw new HttpError(400, 'invalid_request', 'a kiosk needs a till profile or saleAllowed/topupAllowed')
  try {
    deps.registry.createKiosk({ id, booth, saleAllowed, topupAllowed, ...(profile === undefined ? {} : { profile }) })
  } catch (err) {
    if (!(err instanceof EnrollmentError)) throw err
    if (err.kind === 'kiosk_exists') throw new HttpError(409, 'kiosk_exists', err.message)
    if (err.kind === 'unknown_booth') throw new HttpError(400, 'unknown_booth', err.message)
    if (err.kind === 'unknown_profile') throw new HttpError(400, 'unknown_profile', err.message)
    throw err
  }
  // Retained before the kiosk can log in: it finds its config on connect.
  await deps.publishKioskConfigs([id])
  return issueRegistrationCodeReply(deps, request, id, gatewayUrl)
}

/** POST /admin/kiosks and POST /admin/kiosks/{id}/registration-code (registered inside /admin). */
export function kioskEnrollmentAdmin(deps: KioskEnrollmentDeps): FastifyPluginAsync {
  return async (scope) => {
    scope.post<{ Body: NewKioskBody }>(
      '/kiosks',
      { schema: { body: NewKioskBody, response: { 201: RegistrationCodeReply, 409: ErrorBody, ...errorResponses } } },
      async (request, reply) => reply.code(201).send(await createKioskWithCode(deps, request, request.body)),
    )

    scope.post<{ Params: { id: string }; Body: Static<typeof CodeRequestBody> }>(
      '/kiosks/:id/registration-code',
      {
        schema: { params: Type.Object({ id: KioskId }, { additionalProperties: false }), body: CodeRequestBody, response: { 200: RegistrationCodeReply, ...errorResponses } },
        // `curl -X POST` without a body asks for a code too.
        preValidation: async (request) => {
          request.body ??= {}
        },
      },
      async (request) => issueRegistrationCodeReply(deps, request, request.params.id, request.body.gatewayUrl),
    )
  }
}

/** Retry-After of broker_provisioning_failed: the broker may be back by then (it is alerted). */
export const BROKER_PROVISIONING_RETRY_AFTER_S = 30

const REFUSALS = {
  invalid: { status: 401, type: 'invalid_registration_code', message: 'this registration code is not known: check what was typed, or ask the operator for a new one' },
  used: { status: 410, type: 'registration_code_used', message: 'this registration code was used already: ask the operator for a new one' },
  expired: { status: 410, type: 'registration_code_expired', message: 'this registration code has expired: ask the operator for a new one' },
  kiosk_retired: { status: 409, type: 'kiosk_retired', message: 'the kiosk of this registration code no longer takes part (retired or disabled)' },
} as const

/** POST /enroll: a code and a public key in, MQTT credentials out. Not under /admin. */
export function kioskEnrollmentApi(deps: KioskEnrollmentDeps): FastifyPluginAsync {
  const throttle = createLoginThrottle({ ...DEFAULT_ENROLL_THROTTLE, ...deps.throttle })
  const log = deps.logger.child({ component: 'enrollment' })

  function mqttUrl(request: FastifyRequest): string {
    return deps.mqttUrl ?? brokerUrlFor(deps.mqttListener(), request.hostname)
  }

  /** One enrollment's broker provisioning at a time: two of the same kiosk must not race to its login. */
  let provisioning: Promise<unknown> = Promise.resolve()

  /**
   * With an external broker the kiosk's login gets the new token before the code is spent: if the broker
   * cannot take it, the kiosk would get a token that does not log in, so the enrollment is refused with
   * nothing changed and the same code works on a retry. Undefined (redeem refuses the code as usual) for a
   * code that would be refused; throws KioskKeyError for a bad key before the broker is asked.
   */
  async function provisionFirst(code: string, publicKey: string, reply: FastifyReply): Promise<string | undefined> {
    parseKioskPublicKey(publicKey)
    const checked = deps.registry.checkRegistrationCode(code, deps.clock.now())
    if (!checked.ok) return undefined
    const token = newKioskToken()
    const done = provisioning.then(() => deps.provisionKioskLogin!(checked.kioskId, token))
    provisioning = done.catch(() => undefined)
    if (!(await done.catch(() => false))) {
      log.error({ kioskId: checked.kioskId }, `enrollment of kiosk ${checked.kioskId} refused: its login could not be provisioned in the external mqtt broker; the registration code still works`)
      reply.header('retry-after', String(BROKER_PROVISIONING_RETRY_AFTER_S))
      throw new HttpError(503, 'broker_provisioning_failed', `the MQTT broker could not take this kiosk's login; nothing was changed and the registration code still works: retry in ${BROKER_PROVISIONING_RETRY_AFTER_S} s`)
    }
    return token
  }

  return async (scope) => {
    scope.post<{ Body: EnrollBody }>(
      '/enroll',
      { schema: { body: EnrollBody, response: { 200: EnrollReply, 409: ErrorBody, 410: ErrorBody, ...errorResponses } } },
      async (request, reply) => {
        const address = sourceAddressKey(request.ip)
        const waitMs = throttle.blockedForMs(address, deps.clock.now())
        if (waitMs > 0) {
          const seconds = Math.ceil(waitMs / 1000)
          reply.header('retry-after', String(seconds))
          throw new HttpError(429, 'rate_limited', `too many wrong registration codes from this address; retry in ${seconds} s`)
        }
        let redeemed
        try {
          const token = deps.provisionKioskLogin === undefined ? undefined : await provisionFirst(request.body.code, request.body.publicKey, reply)
          redeemed = deps.registry.redeemRegistrationCode(request.body.code, request.body.publicKey, deps.clock.now(), token)
        } catch (err) {
          // Only the key can be at fault here; a database that cannot take the write is answered as storage_unavailable.
          if (!(err instanceof KioskKeyError)) throw err
          throw new HttpError(400, 'invalid_public_key', err.message)
        }
        if (!redeemed.ok) {
          const blockedMs = throttle.recordFailure(address, deps.clock.now())
          log.warn({ address, refused: redeemed.refused, blockedMs }, `enrollment refused: registration code ${redeemed.refused === 'invalid' ? 'unknown' : redeemed.refused}`)
          const refusal = REFUSALS[redeemed.refused]
          throw new HttpError(refusal.status, refusal.type, refusal.message)
        }
        await deps.kioskEnrolled?.(redeemed.kioskId, redeemed.token)
        // The connection made with the old token (the replaced Pi, or a thief) ends now.
        await deps.endKioskSessions([], [redeemed.kioskId])
        log.info({ kioskId: redeemed.kioskId, address }, `kiosk ${redeemed.kioskId} enrolled by registration code`)
        const answer: EnrollReply = {
          kioskId: redeemed.kioskId,
          booth: redeemed.booth,
          mqtt: { url: mqttUrl(request), username: redeemed.kioskId, token: redeemed.token },
          gatewayKey: deps.registry.gatewayKeys.signingPublicKey,
        }
        return answer
      },
    )
  }
}
