// Kiosk credentials and ACLs in an external Mosquitto 2, through its dynamic
// security plugin. The gateway is the one that knows who may do what (the
// registry); with an external broker it writes that knowledge into the plugin
// over its control topic, so that the broker enforces the same rules as the
// embedded one (broker.ts mayPublish/maySubscribe):
//  - a kiosk publishes only its own tx, state, query and cmd/answer, and
//    subscribes to and receives only its own reply, config and cmd;
//  - the gateway's own account publishes and reads everything under the topic
//    root; everyone else gets nothing (the default ACL access denies);
//  - operator accounts (config operators, username operator:{name}) read the
//    kiosks' states, the gateway's state and the events; admins also the
//    kiosks' command answers. Unlike the embedded broker, which lets an admin
//    publish a command only in its own name (it reads the payload's `by`) and
//    strips its retain flag, Mosquitto's ACLs see topics only: an admin sends
//    commands through the gateway (console, admin API, CLI), not over MQTT;
//  - anonymous clients are refused by mosquitto.conf (allow_anonymous false);
//  - a retired kiosk's client is deleted, a kiosk with a new token gets the new
//    password (the plugin kicks a client it modifies or deletes).
// Every answer of the plugin is checked: an error other than the ones that
// mean "already so" is thrown, never taken for success.
//
// Kiosk tokens are kept by the gateway only as SHA-256 hashes, so a password
// can be set only when its token is at hand (the event set-up's file, or a
// redeemed registration code). Each provisioned client carries a fingerprint
// of its token's hash in its textdescription: at start the gateway compares it
// with the registry and changes only the clients whose token differs (a
// modified client is kicked, so unchanged kiosks must be left alone).
import { createHash, randomBytes } from 'node:crypto'
import { topics, TOPIC_ROOT } from '../device-protocol/index.js'
import { hashToken } from './registry/secrets.js'

export const DYNSEC_CONTROL_TOPIC = '$CONTROL/dynamic-security/v1'
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_CONTROL_TOPIC}/response`

export type AclType = 'publishClientSend' | 'publishClientReceive' | 'subscribeLiteral' | 'subscribePattern' | 'unsubscribeLiteral' | 'unsubscribePattern'
export interface Acl {
  acltype: AclType
  topic: string
  allow: boolean
}

export type DynsecCommand = { command: string } & Record<string, unknown>
export interface DynsecResponse {
  command: string
  error?: string
  data?: unknown
  correlationData?: string
}

/** What nobody's role grants is denied; unsubscribing is harmless. */
export const DEFAULT_ACL_ACCESS: ReadonlyArray<{ acltype: 'publishClientSend' | 'publishClientReceive' | 'subscribe' | 'unsubscribe'; allow: boolean }> = [
  { acltype: 'publishClientSend', allow: false },
  // Denied too: a session taken over under a kiosk's client id must not receive that kiosk's queued replies.
  { acltype: 'publishClientReceive', allow: false },
  { acltype: 'subscribe', allow: false },
  { acltype: 'unsubscribe', allow: true },
]

export const GATEWAY_ROLE = 'wristpay-gateway'
export const OPERATOR_ROLE = 'wristpay-operator'
export const ADMIN_OPERATOR_ROLE = 'wristpay-operator-admin'
/** An operator's MQTT username (gateway/app.ts OPERATOR_USERNAME_PREFIX): no kiosk id has a colon. */
export const OPERATOR_USERNAME_PREFIX = 'operator:'
export const KIOSK_ROLE_PREFIX = 'wristpay-kiosk-'
/** textdescription of a client whose token the gateway could not set (its password is a random one nobody has). */
export const UNKNOWN_TOKEN_DESCRIPTION = 'wristpay:token-unknown'

export const kioskRoleName = (kioskId: string): string => `${KIOSK_ROLE_PREFIX}${kioskId}`
/** The client id a kiosk daemon uses (daemon/mqtt-link.ts); the plugin binds the kiosk's login to it. */
export const kioskClientId = (kioskId: string): string => `kiosk-${kioskId}`

/** The rules of broker.ts mayPublish/maySubscribe for one kiosk, as literal topics (no wildcards, no patterns). */
export function kioskAcls(kioskId: string): Acl[] {
  const sends = [topics.kioskTx(kioskId), topics.kioskState(kioskId), topics.kioskQuery(kioskId), topics.kioskCmdAnswer(kioskId)]
  const reads = [topics.kioskReply(kioskId), topics.kioskConfig(kioskId), topics.kioskCmd(kioskId)]
  return [
    ...sends.map((topic) => ({ acltype: 'publishClientSend' as const, topic, allow: true })),
    ...reads.map((topic) => ({ acltype: 'subscribeLiteral' as const, topic, allow: true })),
    ...reads.map((topic) => ({ acltype: 'publishClientReceive' as const, topic, allow: true })),
  ]
}

/**
 * The gateway's own account: everything under the topic root, nothing else (not $CONTROL). Mosquitto checks a
 * shared subscription's filter as written, `$share/{group}/...` included, so the share groups' filters under the
 * topic root are granted too (external-broker.ts gatewaySubscriptions).
 */
export function gatewayAcls(): Acl[] {
  const all = `${TOPIC_ROOT}/#`
  return [
    { acltype: 'publishClientSend', topic: all, allow: true },
    { acltype: 'subscribePattern', topic: all, allow: true },
    { acltype: 'subscribePattern', topic: `$share/+/${all}`, allow: true },
    { acltype: 'publishClientReceive', topic: all, allow: true },
  ]
}

/**
 * What an operator reads (broker.ts maySubscribe for operators): kiosk states, the gateway's state, the events;
 * an admin also the kiosks' command answers. Nothing to publish (see the head of this file).
 */
export function operatorAcls(admin: boolean): Acl[] {
  const reads = [topics.allKioskState, topics.gatewayState, topics.allEvents, ...(admin ? [topics.allKioskCmdAnswers] : [])]
  return [...reads.map((topic) => ({ acltype: 'subscribePattern' as const, topic, allow: true })), ...reads.map((topic) => ({ acltype: 'publishClientReceive' as const, topic, allow: true }))]
}

/** An operator account of the gateway's config, as the provisioning needs it. */
export interface OperatorLogin {
  name: string
  token: string
  admin: boolean
}

/** What a client's textdescription holds for the token whose SHA-256 (hex, as the registry keeps it) is `tokenHash`. */
export function credentialFingerprint(tokenHash: string): string {
  return `wristpay:${createHash('sha256').update(`wristpay-dynsec:${tokenHash}`, 'utf8').digest('hex').slice(0, 32)}`
}

export class DynsecError extends Error {
  override name = 'DynsecError'
}

/** The plugin's answers that mean the wanted state holds already. */
const ALREADY_SO: Readonly<Record<string, string>> = {
  createRole: 'Role already exists',
  createClient: 'Client already exists',
  deleteClient: 'Client not found',
  deleteRole: 'Role not found',
  addRoleACL: 'ACL with this topic already exists',
  // Not an error here: the answer is that there is no such client yet.
  getClient: 'Client not found',
}

/** Throws DynsecError for the first answer with an error other than "already so" (the command names only, never a password). */
export function checkResponses(commands: readonly DynsecCommand[], responses: readonly DynsecResponse[]): void {
  if (responses.length !== commands.length) throw new DynsecError(`dynamic security answered ${responses.length} of ${commands.length} commands`)
  responses.forEach((response, i) => {
    const command = commands[i]!
    // What the broker sent is not trusted to have the plugin's shape.
    if (typeof response !== 'object' || response === null || (response.error !== undefined && typeof response.error !== 'string')) throw new DynsecError(`dynamic security sent a malformed answer to ${command.command}`)
    if (response.command !== command.command) throw new DynsecError(`dynamic security answered ${response.command} for ${command.command}`)
    if (response.error !== undefined && ALREADY_SO[command.command] !== response.error) {
      const subject = command.username ?? command.rolename ?? ''
      throw new DynsecError(`dynamic security refused ${command.command}${subject ? ` ${String(subject)}` : ''}: ${response.error}`)
    }
  })
}

/** One connection of the dynsec admin: sends a batch of commands and resolves with the plugin's answers (in order). */
export interface DynsecTransport {
  run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]>
}

/** What the gateway knows of a kiosk's login (gateway/registry: the kiosks table). */
export interface KioskCredential {
  id: string
  /** SHA-256 (hex) of its MQTT token. */
  tokenHash: string
  retired: boolean
  /** Made through the admin API and not enrolled yet: nobody has its token, and that is expected (no alarm). */
  awaitingEnrollment?: boolean
}

export interface ProvisionReport {
  /** Clients made or changed (each kicked if connected). */
  changed: string[]
  /** Retired kiosks: their clients and roles deleted (if the broker still had them). */
  deleted: string[]
  /** Kiosks whose token is not at hand and whose broker client does not match it: they cannot log in until they get a new token. */
  unknownToken: string[]
  /** Kiosks waiting for their registration code: no login works until it is redeemed. */
  awaitingEnrollment: string[]
}

export interface OperatorReport {
  /** Operator clients made or changed (each kicked if connected). */
  changed: string[]
  /** Operator clients the broker had that the config no longer names: deleted. */
  deleted: string[]
}

export interface BrokerProvisioner {
  /**
   * Default ACL access, the gateway's role and client. The client is bound to no client id: every gateway of a
   * cluster logs in with it under its own id (mqtt.external.clientId). Throws DynsecError.
   */
  provisionGateway(gateway: { username: string; password: string }): Promise<void>
  /**
   * Brings the kiosks' clients in line with `kiosks`. `tokens`: the plain tokens at hand (kiosk id → token);
   * one is used only when its hash is the registry's. Throws DynsecError on any refusal.
   */
  provisionKiosks(kiosks: readonly KioskCredential[], tokens: ReadonlyMap<string, string>): Promise<ProvisionReport>
  /**
   * The operator clients (username operator:{name}, bound to no client id: the monitor and the console pick
   * ids of their own) in line with `operators`: made, changed when the token or the admin role differs,
   * deleted when the config no longer names them. Throws DynsecError on any refusal or malformed answer.
   */
  provisionOperators(operators: readonly OperatorLogin[]): Promise<OperatorReport>
}

interface ClientInfo {
  clientid?: string
  textdescription?: string
  roles?: Array<{ rolename: string }>
}

/** Whether a client as the plugin has it matches; `clientId` undefined: bound to no client id. Anything malformed does not match. */
function inLine(client: ClientInfo, description: string, clientId: string | undefined, rolename: string): boolean {
  const boundTo = typeof client.clientid === 'string' && client.clientid !== '' ? client.clientid : undefined
  return client.textdescription === description && boundTo === clientId && Array.isArray(client.roles) && client.roles.some((r) => r?.rolename === rolename)
}

/** The client of a getClient answer, or undefined ("Client not found", or an answer without one). */
function clientOf(answer: DynsecResponse | undefined): ClientInfo | undefined {
  const data = answer?.data
  if (typeof data !== 'object' || data === null) return undefined
  const client = (data as { client?: unknown }).client
  return typeof client === 'object' && client !== null ? (client as ClientInfo) : undefined
}

export function createBrokerProvisioner(transport: DynsecTransport): BrokerProvisioner {
  async function run(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    if (commands.length === 0) return []
    const responses = await transport.run(commands)
    checkResponses(commands, responses)
    return responses
  }

  return {
    async provisionOperators(operators) {
      const report: OperatorReport = { changed: [], deleted: [] }
      const [, , listed, ...found] = await run([
        { command: 'createRole', rolename: OPERATOR_ROLE, acls: operatorAcls(false) },
        { command: 'createRole', rolename: ADMIN_OPERATOR_ROLE, acls: operatorAcls(true) },
        { command: 'listClients', verbose: false, count: -1 },
        ...operators.map((op) => ({ command: 'getClient', username: `${OPERATOR_USERNAME_PREFIX}${op.name}` })),
      ])
      const names = (listed?.data as { clients?: unknown } | undefined)?.clients
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new DynsecError('dynamic security sent a malformed answer to listClients')
      const wanted = new Set(operators.map((op) => `${OPERATOR_USERNAME_PREFIX}${op.name}`))
      const changes: DynsecCommand[] = []
      operators.forEach((op, i) => {
        const username = `${OPERATOR_USERNAME_PREFIX}${op.name}`
        const rolename = op.admin ? ADMIN_OPERATOR_ROLE : OPERATOR_ROLE
        const description = credentialFingerprint(hashToken(op.token))
        const client = clientOf(found[i])
        // One role only: an admin made read-only loses the admin role.
        if (client !== undefined && inLine(client, description, undefined, rolename) && client.roles!.length === 1) return
        const fields = { username, password: op.token, clientid: '', roles: [{ rolename }], textdescription: description }
        changes.push(client === undefined ? { command: 'createClient', ...fields } : { command: 'modifyClient', ...fields })
        report.changed.push(op.name)
      })
      for (const username of names as string[]) {
        if (!username.startsWith(OPERATOR_USERNAME_PREFIX) || wanted.has(username)) continue
        changes.push({ command: 'deleteClient', username })
        report.deleted.push(username.slice(OPERATOR_USERNAME_PREFIX.length))
      }
      await run(changes)
      return report
    },

    async provisionGateway({ username, password }) {
      const description = credentialFingerprint(hashToken(password))
      const roles = [{ rolename: GATEWAY_ROLE }]
      const acls = gatewayAcls()
      const answers = await run([
        { command: 'setDefaultACLAccess', acls: DEFAULT_ACL_ACCESS },
        { command: 'createRole', rolename: GATEWAY_ROLE, acls },
        // A role made by an earlier version keeps its ACLs: each is added if it is missing ("already exists" otherwise).
        ...acls.map((acl) => ({ command: 'addRoleACL', rolename: GATEWAY_ROLE, ...acl })),
        { command: 'getClient', username },
      ])
      const client = clientOf(answers[answers.length - 1])
      // An empty clientid takes away a binding an earlier version made (one gateway, one id).
      const fields = { username, password, clientid: '', roles, textdescription: description }
      if (client === undefined) await run([{ command: 'createClient', ...fields }])
      // Changed only when it differs: modifying a client kicks it (the other gateways sharing the account).
      else if (!inLine(client, description, undefined, GATEWAY_ROLE)) await run([{ command: 'modifyClient', ...fields }])
    },

    async provisionKiosks(kiosks, tokens) {
      const report: ProvisionReport = { changed: [], deleted: [], unknownToken: [], awaitingEnrollment: [] }
      const active = kiosks.filter((k) => !k.retired)
      // One batch asks for every role (made if missing) and every client as the plugin has it.
      const lookups = await run(
        active.flatMap((k) => [
          { command: 'createRole', rolename: kioskRoleName(k.id), acls: kioskAcls(k.id) },
          { command: 'getClient', username: k.id },
        ]),
      )
      const existing = new Map<string, ClientInfo | undefined>()
      active.forEach((k, i) => existing.set(k.id, clientOf(lookups[2 * i + 1])))

      const changes: DynsecCommand[] = []
      for (const k of active) {
        const client = existing.get(k.id)
        const fingerprint = credentialFingerprint(k.tokenHash)
        const roles = [{ rolename: kioskRoleName(k.id) }]
        if (client !== undefined && inLine(client, fingerprint, kioskClientId(k.id), kioskRoleName(k.id))) continue
        const token = tokens.get(k.id)
        const usable = token !== undefined && hashToken(token) === k.tokenHash
        // Without its token the old password must stop working: a random one nobody has, and an operator is told.
        const password = usable ? token : randomBytes(32).toString('base64url')
        const description = usable ? fingerprint : UNKNOWN_TOKEN_DESCRIPTION
        if (!usable) {
          ;(k.awaitingEnrollment === true ? report.awaitingEnrollment : report.unknownToken).push(k.id)
          // Already locked out at an earlier start: nothing to change (and no kick).
          if (client?.textdescription === UNKNOWN_TOKEN_DESCRIPTION) continue
        } else report.changed.push(k.id)
        const fields = { username: k.id, password, clientid: kioskClientId(k.id), roles, textdescription: description }
        changes.push(client === undefined ? { command: 'createClient', ...fields } : { command: 'modifyClient', ...fields })
      }
      for (const k of kiosks.filter((k) => k.retired)) {
        changes.push({ command: 'deleteClient', username: k.id }, { command: 'deleteRole', rolename: kioskRoleName(k.id) })
        report.deleted.push(k.id)
      }
      await run(changes)
      return report
    },
  }
}
