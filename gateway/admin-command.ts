// The plumbing the gateway's operator commands (payout, refund-run) share: the
// usage error, finding the running gateway from the config, the operator from
// WRISTPAY_OPERATOR, and one request to its admin API with its failures said
// on stderr. Each command keeps its own arguments, requests and printing.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfig, type GatewayConfig } from './config.js'
import { OPERATOR_HEADER } from './four-eyes/operator-credentials.js'
import { jsonHttpTransport, type JsonTransport } from './json-http-client.js'

/** Who acts: name:token of an operator account of the gateway's config; never an argument, so nobody acts as someone else by typing a name, and the token stays out of `ps`. */
export const OPERATOR_ENV = 'WRISTPAY_OPERATOR'

/** How a command reaches the admin API: a real HTTP client, or app.inject in tests. */
export type AdminTransport = JsonTransport

/** The admin API over HTTP with the admin token and the operator's credentials on every request. */
export function adminHttpTransport(baseUrl: string, adminToken: string, operator: string): AdminTransport {
  const transport = jsonHttpTransport(baseUrl, { authorization: `Bearer ${adminToken}`, [OPERATOR_HEADER]: operator }, 60_000)
  return (request) => transport({ ...request, path: `/admin${request.path}` })
}

export interface CommandOutput {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

export interface OperatorCommandIo extends CommandOutput {
  transport?: (baseUrl: string, adminToken: string, operator: string) => AdminTransport
}

/** Euros with cents for the command's lines (1234.50). */
export const euros = (cents: number) => `${Math.trunc(cents / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`

/** Euros as the finance team writes them (1234.50) to cents; refuses anything else (1e3, 12,34, -1) with the command's usage error. */
export function centsOfEurosOr(text: string, usageError: (message: string) => Error): number {
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(text)
  if (m === null) throw usageError(`--max-sum must be an amount in euros like 1500 or 1500.50, got ${JSON.stringify(text)}`)
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'))
  if (cents <= 0) throw usageError('--max-sum must be above zero')
  return cents
}

/** What every run command is told: ACTION [RUN] [--max-count N] [--max-sum EUROS] [--config FILE] [--url URL]. */
export interface RunCommandArgs<Action extends string> {
  action: Action
  runId?: number
  maxCount?: number
  /** Cents. */
  maxSum?: number
  configFile?: string
  url?: string
}

/**
 * A run command's arguments: one of `actions`, the run's number unless it is create or list, the limits of create,
 * the config and URL; `options` are the command's own (string options), checked by `checkOwn` before the limits.
 * Every refusal is the command's own usage error.
 */
export function parseRunArgs<Action extends string>(
  args: readonly string[],
  actions: readonly Action[],
  usageError: (message: string) => Error,
  own: { options?: Record<string, { type: 'string' }>; check?: (action: Action, values: Record<string, string | undefined>) => void } = {},
): { command: RunCommandArgs<Action>; values: Record<string, string | undefined> } {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: { 'max-count': { type: 'string' }, 'max-sum': { type: 'string' }, ...own.options, config: { type: 'string' }, url: { type: 'string' } },
    })
  } catch (err) {
    throw usageError((err as Error).message)
  }
  const [action, run, ...rest] = parsed.positionals
  if (action === undefined || !(actions as readonly string[]).includes(action)) throw usageError(`the action must be one of ${actions.join(', ')}`)
  const command: RunCommandArgs<Action> = { action: action as Action }
  const needsRun = action !== 'create' && action !== 'list'
  if (rest.length > 0 || (!needsRun && run !== undefined)) throw usageError('too many arguments')
  if (needsRun) {
    if (run === undefined || !/^[1-9]\d{0,14}$/.test(run)) throw usageError(`${action} needs the run's number`)
    command.runId = Number(run)
  }
  const values = parsed.values as Record<string, string | undefined>
  if (action !== 'create' && (values['max-count'] !== undefined || values['max-sum'] !== undefined)) throw usageError('--max-count and --max-sum belong to create')
  own.check?.(action as Action, values)
  if (values['max-count'] !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(values['max-count'])) throw usageError('--max-count must be a whole number from 1 to 999999')
    command.maxCount = Number(values['max-count'])
  }
  if (values['max-sum'] !== undefined) command.maxSum = centsOfEurosOr(values['max-sum'], usageError)
  if (values.config !== undefined) command.configFile = values.config
  if (values.url !== undefined) command.url = values.url
  return { command, values }
}

/**
 * The flags of a command that takes no positionals (node:util parseArgs, strict): an unknown flag or
 * a missing value is the command's own usage error, so every command refuses the same way.
 */
export function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>>(args: readonly string[], options: O, usageError: (message: string) => Error) {
  try {
    return parseArgs({ args: [...args], strict: true, allowPositionals: false, options }).values
  } catch (err) {
    throw usageError((err as Error).message)
  }
}

/** The command's arguments, or exit code 2 after the message and the usage; errors that are not usage errors are thrown on. */
export function parseOrUsage<C>(parse: () => C, usageError: abstract new (...args: never[]) => Error, usage: string, io: CommandOutput): C | 2 {
  try {
    return parse()
  } catch (err) {
    if (!(err instanceof usageError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n\nUsage:\n${usage}`)
    return 2
  }
}

/** The running gateway an operator command talks to, and as whom. */
export interface OperatorTarget {
  baseUrl: string
  transport: AdminTransport
}

/**
 * The gateway from the config (or `url`), its admin token and the operator from the environment, as a transport;
 * exit code 2 after saying what is missing.
 */
export function operatorTarget(where: { configFile?: string; url?: string }, env: NodeJS.ProcessEnv, io: OperatorCommandIo): OperatorTarget | 2 {
  let config: GatewayConfig
  const operator = env[OPERATOR_ENV]
  try {
    config = loadConfig({ file: where.configFile, env, overrides: {} })
    if (config.adminToken === undefined) throw new ConfigError('no admin token: set "adminToken" in the config file or WRISTPAY_GATEWAY_ADMIN_TOKEN')
    if (operator === undefined || !/^[^:\s]+:\S+$/.test(operator)) throw new ConfigError(`no operator: set ${OPERATOR_ENV}=name:token (an operator account of the gateway's config)`)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  const baseUrl = where.url ?? gatewayBaseUrl(config)
  return { baseUrl, transport: (io.transport ?? adminHttpTransport)(baseUrl, config.adminToken, operator) }
}

/** Where a command on this machine reaches the gateway of a config: its HTTP listener, loopback for a wildcard address. */
export function gatewayBaseUrl(config: Pick<GatewayConfig, 'http'>): string {
  const listenHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host
  return `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${config.http.port}`
}

/** The request of a run command's action: create (with its limits), list, show RUN, or any other action on RUN. */
export function runActionRequest(
  runsPath: string,
  command: { action: string; runId?: number; maxCount?: number; maxSum?: number },
): Parameters<AdminTransport>[0] {
  switch (command.action) {
    case 'create':
      return { method: 'POST', path: runsPath, body: { ...(command.maxCount ? { maxCount: command.maxCount } : {}), ...(command.maxSum ? { maxSum: command.maxSum } : {}) } }
    case 'list':
      return { method: 'GET', path: runsPath }
    case 'show':
      return { method: 'GET', path: `${runsPath}/${command.runId}` }
    default:
      return { method: 'POST', path: `${runsPath}/${command.runId}/${command.action}` }
  }
}

/** One request to the admin API: its answer below 400, or exit code 1 after saying that the gateway cannot be reached or what it refused. */
export async function askGateway(target: OperatorTarget, request: Parameters<AdminTransport>[0], io: CommandOutput): Promise<{ status: number; json: unknown } | 1> {
  let answer: { status: number; json: unknown }
  try {
    answer = await target.transport(request)
  } catch (err) {
    io.stderr(`wristpay-gateway: the gateway at ${target.baseUrl} cannot be reached: ${(err as Error).message}\n`)
    return 1
  }
  if (answer.status >= 400) {
    const body = answer.json as { type?: string; message?: string }
    io.stderr(`wristpay-gateway: refused (${answer.status} ${body.type ?? 'error'}): ${body.message ?? ''}\n`)
    return 1
  }
  return answer
}
