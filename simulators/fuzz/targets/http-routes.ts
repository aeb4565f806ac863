// Every HTTP route of a real gateway (createGateway on loopback, port 0, its
// own data directory and a small event): the routes and their schemas are read
// from the gateway's own OpenAPI document (/docs/json, generated from the very
// schemas fastify validates with), and each request gets path parameters, a
// query and a body made from those schemas, then damaged (wrong types, extra
// and prototype-polluting keys, huge strings, deep nesting), or a raw body
// (not JSON, deep JSON text, odd content types), with and without each kind of
// credentials. Oracle: no 5xx (a 503 or 504 only where the route documents it, never `internal`);
// every error is the error catalogue's {type, id, message}; any 4xx leaves the
// ledger as it was; the ledger's invariants hold after every request; no
// promise is left rejected.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { pino } from 'pino'
import { createGateway, type Gateway } from '../../../gateway/app.js'
import { resolveConfig, type GatewayConfig } from '../../../gateway/config.js'
import { applyJsonMutations, jsonMutations, nastyString, oddJson, type Json, type JsonMutations } from '../mutate.js'
import { schemaArbitrary, type Schema } from '../schema-arbitrary.js'
import { assertNoPrototypePollution, expect, OracleFailure, type FuzzTarget, type Verdict } from '../target.js'

const ADMIN_TOKEN = 'fuzz-admin-token-0123456789'
const OPERATOR = { name: 'ops', token: 'fuzz-operator-token-0123' }
const UID = '04A1B2C3D4E5F6'
const PIN = 'FUZZTEST23'
const EVENT = {
  event: { name: 'Fuzz Fest', currency: 'EUR' },
  booths: [
    { id: 'bar', name: 'Bar' },
    { id: 'cashier', name: 'Cashier' },
  ],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [
    { id: 'bar-1', booth: 'bar', token: 'fuzz-token-bar-1-0123456789', saleAllowed: true, topupAllowed: false },
    { id: 'cash-1', booth: 'cashier', token: 'fuzz-token-cash-1-0123456789', saleAllowed: false, topupAllowed: true },
  ],
  wristbands: [{ uid: UID, pin: PIN }],
}
const ORGANIZER = 'fuzz-fest'

/** Credentials a request may carry: none, wrong ones, and each kind the gateway knows. */
const AUTH_HEADERS: ReadonlyArray<Record<string, string>> = [
  {},
  { authorization: `Bearer ${ADMIN_TOKEN}` },
  { authorization: `Bearer ${ADMIN_TOKEN}`, 'wristpay-operator': `${OPERATOR.name}:${OPERATOR.token}` },
  { authorization: `Token ${OPERATOR.token}` },
  { authorization: `Basic ${Buffer.from(`${OPERATOR.name}:${OPERATOR.token}`).toString('base64')}` },
  { authorization: 'Bearer wrong' },
  { authorization: `Bearer ${'x'.repeat(5000)}` },
  { 'wristpay-operator': 'ops:' },
  // Replaced at run time by a fresh portal token (a guest logged in with the wristband's PIN).
  { authorization: 'portal' },
]
const PORTAL_AUTH = AUTH_HEADERS.length - 1

/** Known-good values of path parameters by name, so requests get past "unknown" into the handlers. */
const GOOD_PARAMS: Record<string, string[]> = {
  id: ['bar-1', 'cash-1', '1', '00000000-0000-7000-8000-000000000000'],
  uid: [UID],
  organizer: [ORGANIZER],
  job: ['1'],
  idx: ['0', '1'],
  command: ['lock', 'unlock', 'report_state', 'reload_config'],
  order_uuid: ['00000000-0000-7000-8000-000000000000'],
  blob_id: ['1'],
}

/** Bodies of routes whose schema says nothing (the bank import jobs take pretix's transactions). */
const EXTRA_BODY_SAMPLES: Record<string, Json> = {
  [`/api/v1/organizers/{organizer}/bankimportjobs/`]: { event: null, transactions: [{ payer: 'Maria Schmidt', reference: 'WP-7KQ4-M2XD-9', amount: '25.00', date: '2026-07-01', iban: 'DE44500105175407324931', bic: 'INGDDEFFXXX' }] },
}

interface Route {
  method: string
  path: string
  params: Array<{ name: string; schema: Schema }>
  query: Array<{ name: string; schema: Schema; required: boolean }>
  body: Schema | undefined
  /** 5xx statuses the route documents (a kiosk command's 504, a provider's 503); any other 5xx is a failure. */
  documented5xx: Set<number>
}

type Body = { kind: 'none' } | { kind: 'json'; value: Json; mutations?: JsonMutations } | { kind: 'raw'; text: string; contentType: string | undefined }

export interface HttpInput {
  route: number
  auth: number
  params: string[]
  query: Json
  body: Body
}

function routesOf(doc: { paths: Record<string, Record<string, any>> }): Route[] {
  const routes: Route[] = []
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const parameters = (op.parameters ?? []) as Array<{ in: string; name: string; schema: Schema; required?: boolean }>
      routes.push({
        method: method.toUpperCase(),
        path,
        params: parameters.filter((p) => p.in === 'path').map((p) => ({ name: p.name, schema: p.schema })),
        query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        body: op.requestBody?.content?.['application/json']?.schema as Schema | undefined,
        documented5xx: new Set(Object.keys(op.responses ?? {}).map(Number).filter((status) => status >= 500 && status !== 500)),
      })
    }
  }
  return routes
}

const RAW_BODIES: readonly string[] = [
  '',
  'not json',
  '{',
  '{"a":1,"a":2}',
  '{"__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"isAdmin":true}}}',
  '['.repeat(100_000) + ']'.repeat(100_000),
  '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
  `"${'x'.repeat(2_000_000)}"`,
  'null',
  '1e999',
  '\uFEFF{}',
]

function routeInput(route: Route, index: number, definitions: Record<string, Schema>): fc.Arbitrary<HttpInput> {
  // A command to a kiosk that exists waits 10 s for an answer no kiosk gives here: those routes get other kiosk ids.
  const sendsCommand = /\/commands$|\{command\}$/.test(route.path)
  const good = (name: string) => (sendsCommand && name === 'id' ? ['bar-9', 'nobody'] : (GOOD_PARAMS[name] ?? ['1']))
  const param = (p: { name: string; schema: Schema }) =>
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...good(p.name)) }, { weight: 2, arbitrary: schemaArbitrary(p.schema, definitions).map(String) }, { weight: 1, arbitrary: nastyString })
  const queryRecord: Record<string, fc.Arbitrary<Json>> = {}
  for (const q of route.query) queryRecord[q.name] = fc.oneof(schemaArbitrary(q.schema, definitions), oddJson)
  const query: fc.Arbitrary<Json> = fc.oneof(
    { weight: 3, arbitrary: fc.record(queryRecord, { requiredKeys: [] }) as fc.Arbitrary<Json> },
    { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'a[b]', 'a.b'), fc.string({ maxLength: 6 })), fc.oneof(nastyString, oddJson), { maxKeys: 4 }) as fc.Arbitrary<Json> },
  )
  const sample = route.body !== undefined ? schemaArbitrary(route.body, definitions) : EXTRA_BODY_SAMPLES[route.path] !== undefined ? fc.constant(EXTRA_BODY_SAMPLES[route.path]!) : (fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>)
  const body: fc.Arbitrary<Body> =
    route.method === 'GET'
      ? fc.constant({ kind: 'none' as const })
      : fc.oneof(
          { weight: 4, arbitrary: sample.map((value) => ({ kind: 'json' as const, value })) },
          { weight: 5, arbitrary: fc.record({ kind: fc.constant('json' as const), value: sample, mutations: jsonMutations(3) }) },
          { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), text: fc.oneof(fc.constantFrom(...RAW_BODIES), fc.string({ maxLength: 100 })), contentType: fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1') }) },
          { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
        )
  return fc.record({
    route: fc.constant(index),
    auth: fc.oneof({ weight: 4, arbitrary: fc.constant(rightAuth(route)) }, { weight: 1, arbitrary: fc.nat({ max: AUTH_HEADERS.length - 1 }) }),
    params: fc.tuple(...route.params.map(param)),
    query,
    body,
  })
}

/** The credentials the route's API wants (most inputs carry them, to get past authentication). */
function rightAuth(route: Route): number {
  if (route.path.startsWith('/api/v1/organizers/')) return 3
  if (route.path.startsWith('/api/')) return PORTAL_AUTH
  return 2
}

/** Percent-encodes every byte of the UTF-8 text (a lone surrogate too, which encodeURIComponent refuses). */
function encodePathSegment(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
}

function queryString(query: Json): string {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) return ''
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) for (const v of value.slice(0, 5)) search.append(key, typeof v === 'string' ? v : JSON.stringify(v))
    else search.append(key, typeof value === 'string' ? value : JSON.stringify(value))
  }
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function ledgerFingerprint(gateway: Gateway): string {
  const { ledger } = gateway
  return JSON.stringify({ sum: ledger.sumOfAllBalances(), stats: ledger.stats(), debts: ledger.debts().length, shifts: ledger.shiftReports().length })
}

export interface HttpWorld {
  routes: Route[]
  arbitrary: fc.Arbitrary<HttpInput>
  run(input: HttpInput): Promise<Verdict>
  statuses: Map<number, number>
  /** Routes that answered below 400 at least once, of all. */
  routesAnswered(): string
  close(): Promise<void>
}

export async function startHttpWorld(): Promise<HttpWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-fuzz-http-'))
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(EVENT))
  const config: GatewayConfig = resolveConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    // Wrong credentials are part of the input: the per-address throttle would soon answer everything with 429.
    http: { host: '127.0.0.1', port: 0, authFailuresMax: 100_000 },
    dataDir: join(dir, 'data'),
    eventFile,
    adminToken: ADMIN_TOKEN,
    operators: [{ ...OPERATOR, roles: ['admin'] }],
    logLevel: 'silent',
  } as Partial<GatewayConfig>)
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  try {
    await gateway.start()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const doc = (await (await fetch(`${base}/docs/json`)).json()) as { paths: Record<string, Record<string, any>>; components?: { schemas?: Record<string, Schema> } }
  const definitions = doc.components?.schemas ?? {}
  const routes = routesOf(doc)
  const arbitrary = fc.nat({ max: routes.length - 1 }).chain((i) => routeInput(routes[i]!, i, definitions))
  /** A guest session, logged in again after a 401 (an input may have logged it out); logins are rate limited. */
  let guestToken: string | undefined
  async function portalToken(): Promise<string> {
    if (guestToken !== undefined) return guestToken
    const response = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin: PIN }) })
    const answer = (await response.json()) as { access_token?: string }
    guestToken = answer.access_token
    return guestToken ?? 'no-token'
  }
  const statuses = new Map<number, number>()
  const answered = new Set<number>()

  async function run(input: HttpInput): Promise<Verdict> {
    const route = routes[input.route]!
    let path = route.path
    route.params.forEach((p, i) => {
      path = path.replace(`{${p.name}}`, encodePathSegment(input.params[i] ?? ''))
    })
    const headers: Record<string, string> = input.auth === PORTAL_AUTH ? { authorization: `Bearer ${await portalToken()}` } : { ...AUTH_HEADERS[input.auth]! }
    let body: string | undefined
    if (input.body.kind === 'json') {
      const value = input.body.mutations === undefined ? input.body.value : applyJsonMutations(input.body.value, input.body.mutations)
      body = JSON.stringify(value)
      headers['content-type'] = 'application/json'
    } else if (input.body.kind === 'raw') {
      body = input.body.text
      if (input.body.contentType !== undefined) headers['content-type'] = input.body.contentType
    }
    const before = ledgerFingerprint(gateway)
    const response = await fetch(`${base}${path}${queryString(input.query)}`, { method: route.method, headers, ...(body === undefined ? {} : { body }) })
    const text = await response.text()
    const status = response.status
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (status === 401 && input.auth === PORTAL_AUTH) guestToken = undefined
    if (status < 400) answered.add(input.route)
    const where = `${route.method} ${path.length > 160 ? `${path.slice(0, 160)}…` : path}`
    expect(status < 500 || route.documented5xx.has(status), `${where} answered ${status}: ${text.slice(0, 300)}`)
    if (status >= 400) {
      let error: unknown
      try {
        error = JSON.parse(text)
      } catch {
        throw new OracleFailure(`${where} answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`)
      }
      const e = error as { type?: unknown; id?: unknown; message?: unknown }
      expect(typeof e.type === 'string' && typeof e.id === 'string' && typeof e.message === 'string', `${where} answered ${status} without the error catalogue's {type, id, message}: ${text.slice(0, 200)}`)
      expect(e.type !== 'internal', `${where} answered ${status} internal: ${text.slice(0, 200)}`)
      expect(ledgerFingerprint(gateway) === before, `${where} answered ${status} and changed the ledger`)
    }
    assertNoPrototypePollution()
    const problems = gateway.ledger.checkInvariants()
    expect(problems.length === 0, `ledger invariants broken after ${where}: ${problems.slice(0, 3).join('; ')}`)
    return status < 400 ? 'accepted' : 'refused'
  }

  return {
    routes,
    arbitrary,
    run,
    statuses,
    routesAnswered: () => `${answered.size} of ${routes.length}`,
    async close() {
      await gateway.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const httpRoutesTarget: FuzzTarget<HttpInput> = {
  name: 'http-routes',
  description: "every HTTP route of a real gateway, bodies, queries and path parameters from the route schemas and damaged",
  ciCount: 80,
  async create() {
    const world = await startHttpWorld()
    return {
      arbitrary: world.arbitrary,
      run: world.run,
      finish() {
        expect(world.routes.length > 20, `only ${world.routes.length} routes found in the OpenAPI document`)
        expect((world.statuses.get(200) ?? 0) + (world.statuses.get(201) ?? 0) > 0, 'no request was answered 200 or 201: the inputs never got past validation')
      },
      report: () => ({ routes: world.routes.length, statuses: Object.fromEntries([...world.statuses].sort(([a], [b]) => a - b)), answeredPerRoute: world.routesAnswered() }),
      close: world.close,
    }
  },
}
