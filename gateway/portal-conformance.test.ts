// Conformance: walks EVERY operation of portal-api/customer-portal-openapi.json
// against the gateway's HTTP server with the portal mounted (real ledger, real
// SQLite file and a PostgreSQL database, one walk on each, real HTTP), and validates each response body against the
// operation's response schema in that file with ajv, error cases included.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { ValidateFunction } from 'ajv'
import { call, login, type Answer } from '../portal-api/testing/helpers.js'
import { PIN, UID, startPortalWorld } from './testing/portal-world.js'
import { worldEngines } from './testing/world-engines.js'

const SPEC_URL = new URL('../portal-api/customer-portal-openapi.json', import.meta.url)
const spec = JSON.parse(readFileSync(SPEC_URL, 'utf8')) as {
  paths: Record<string, Record<string, { operationId: string; security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>
}

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void
const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)
// The whole document as one schema, so `#/components/...` refs resolve inside it.
ajv.addSchema(spec, 'openapi')

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')
const validators = new Map<string, ValidateFunction>()
function validatorFor(path: string, method: string, status: number): ValidateFunction | undefined {
  const response = spec.paths[path]?.[method]?.responses[String(status)]
  if (response?.content?.['application/json'] === undefined) return undefined
  const key = `${method} ${path} ${status}`
  let v = validators.get(key)
  if (v === undefined) {
    v = ajv.compile({ $ref: `openapi#/${pointer('paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema')}` })
    validators.set(key, v)
  }
  return v
}
const validationError = ajv.compile({ $ref: 'openapi#/components/schemas/HTTPValidationError' })

/** Statuses our errors may use beyond those the seed lists per operation. */
const OUR_ERROR_STATUSES = new Set([400, 401, 403, 404, 422, 429, 502])

for (const engine of await worldEngines(t)) {
  t.test(`${engine.name}: every operation of the OpenAPI file, success and error answers, matches its schema`, async (t) => {
    const w = await startPortalWorld(t, { database: engine.database(t) })
    const alice = await login(w.base, PIN.alice)
    const bob = await login(w.base, PIN.bob)
    const revoked = await login(w.base, PIN.alice)
    t.equal((await call(w.base, 'POST', '/auth/logout', { token: revoked })).status, 204)
    const blobId = '6a0f8e2c-1b3d-4e5f-8a9b-0c1d2e3f4a5b'
    w.backend.putBlob(blobId, { contentType: 'image/png', data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) })
    const aliceOrders = (await call(w.base, 'GET', '/orders_with_bon', { token: alice })).body as { uuid: string }[]
    const receiptId = aliceOrders[0]!.uuid
    const checkout = (await call(w.base, 'POST', '/sumup/create-checkout', { token: alice, body: { amount: 15 } })).body as { order_uuid: string }

    // The validators are real: they refuse bodies that break the spec.
    t.notOk(validatorFor('/customer', 'get', 200)!({}), 'an empty customer is refused')
    t.notOk(validatorFor('/orders_with_bon', 'get', 200)!([{ id: 1, uuid: 'not-a-uuid' }]), 'a broken order is refused')
    t.notOk(validationError({ detail: [{ loc: 'body' }] }), 'a broken HTTPValidationError is refused')

    const covered = new Map<string, Set<number>>()
    async function check(path: string, method: string, expected: number, request: { url: string; token?: string; body?: unknown }, label: string): Promise<Answer> {
      const op = spec.paths[path]![method]!
      const res = await call(w.base, method.toUpperCase(), request.url, {
        ...(request.token === undefined ? {} : { token: request.token }),
        ...(request.body === undefined ? {} : { body: request.body }),
      })
      t.equal(res.status, expected, `${op.operationId} ${label}: status`)
      const listed = op.responses[String(res.status)] !== undefined
      t.ok(listed || OUR_ERROR_STATUSES.has(res.status), `${op.operationId} ${label}: status ${res.status} is the seed's or one of our error statuses`)
      const validate = validatorFor(path, method, res.status)
      if (validate !== undefined) {
        t.ok(validate(res.body), `${op.operationId} ${label}: body matches the spec's schema ${JSON.stringify(validate.errors?.slice(0, 3))}`)
      }
      if (res.status >= 400) {
        t.match(res.body, { type: String, id: String, message: String }, `${op.operationId} ${label}: error shape`)
        if (res.status === 422) t.ok(validationError(res.body) && (res.body as { detail: unknown[] }).detail.length > 0, `${op.operationId} ${label}: 422 is an HTTPValidationError`)
      }
      if (!covered.has(op.operationId)) covered.set(op.operationId, new Set())
      covered.get(op.operationId)!.add(res.status)
      return res
    }

    // Operation by operation: [spec path, method, expected status, request, label].
    const plan: [string, string, number, { url: string; token?: string; body?: unknown }, string][] = [
      ['/auth/login', 'post', 200, { url: '/auth/login', body: { pin: PIN.bob, node_id: 1 } }, 'ok with node_id'],
      ['/auth/login', 'post', 200, { url: '/auth/login', body: { pin: PIN.bob.toLowerCase() } }, 'ok, lower case, no node_id'],
      ['/auth/login', 'post', 404, { url: '/auth/login', body: { pin: 'ZZZZ2345ZZ' } }, 'unknown PIN'],
      ['/auth/login', 'post', 403, { url: '/auth/login', body: { pin: PIN.blocked } }, 'blocked wristband'],
      ['/auth/login', 'post', 422, { url: '/auth/login', body: { node_id: 1 } }, 'no pin'],
      ['/auth/login', 'post', 400, { url: '/auth/login', body: '{"pin":' }, 'broken JSON'],
      ['/customer', 'get', 200, { url: '/customer', token: alice }, 'ok'],
      ['/orders_with_bon', 'get', 200, { url: '/orders_with_bon', token: alice }, 'ok'],
      ['/customer_info', 'post', 204, { url: '/customer_info', token: alice, body: { iban: 'DE89370400440532013000', account_name: 'Alice', email: 'alice@example.org', donation: 1.25 } }, 'ok'],
      ['/customer_info', 'post', 422, { url: '/customer_info', token: alice, body: { iban: 'DE00370400440532013000', account_name: 'Alice', email: 'alice@example.org' } }, 'bad IBAN'],
      ['/customer_info', 'post', 422, { url: '/customer_info', token: alice, body: { iban: 'NL91ABNA0417164300', account_name: 'Alice', email: 'alice@example.org' } }, 'country not allowed'],
      ['/customer_info', 'post', 422, { url: '/customer_info', token: alice, body: { iban: 'DE89370400440532013000', account_name: 'Alice', email: 'alice@example.org', donation: 21.01 } }, 'donation above balance'],
      ['/customer_info', 'post', 422, { url: '/customer_info', token: alice, body: { iban: 'DE89370400440532013000' } }, 'missing fields'],
      ['/customer_all_donation', 'post', 204, { url: '/customer_all_donation', token: bob }, 'ok'],
      ['/payout_info', 'get', 200, { url: '/payout_info', token: alice }, 'ok'],
      ['/get_payout_transactions', 'get', 200, { url: '/get_payout_transactions', token: alice }, 'ok'],
      ['/config', 'get', 200, { url: '/config?base_url=https%3A%2F%2Fportal.testfest.example' }, 'ok'],
      ['/config', 'get', 422, { url: '/config' }, 'no base_url'],
      ['/bon/{order_uuid}', 'get', 200, { url: `/bon/${receiptId}` }, 'ok'],
      ['/bon/{order_uuid}', 'get', 404, { url: '/bon/00000000-0000-4000-8000-000000000000' }, 'unknown id'],
      ['/bon/{order_uuid}', 'get', 404, { url: '/bon/1' }, 'integer id'],
      ['/blob/{blob_id}', 'get', 200, { url: `/blob/${blobId}` }, 'ok'],
      ['/blob/{blob_id}', 'get', 404, { url: '/blob/00000000-0000-4000-8000-000000000000' }, 'unknown'],
      ['/blob/{blob_id}', 'get', 422, { url: '/blob/not-a-uuid' }, 'malformed id'],
      ['/sumup/create-checkout', 'post', 200, { url: '/sumup/create-checkout', token: alice, body: { amount: 25.5 } }, 'ok'],
      ['/sumup/create-checkout', 'post', 422, { url: '/sumup/create-checkout', token: alice, body: { amount: 25.555 } }, 'three decimals'],
      ['/sumup/check-checkout', 'post', 200, { url: '/sumup/check-checkout', token: alice, body: { order_uuid: checkout.order_uuid } }, 'ok'],
      ['/sumup/check-checkout', 'post', 404, { url: '/sumup/check-checkout', token: bob, body: { order_uuid: checkout.order_uuid } }, "another guest's checkout"],
      ['/sumup/check-checkout', 'post', 422, { url: '/sumup/check-checkout', token: alice, body: { order_uuid: 'x' } }, 'malformed'],
      ['/auth/logout', 'post', 204, { url: '/auth/logout', token: await login(w.base, PIN.alice) }, 'ok'],
    ]
    for (const [path, method, status, request, label] of plan) await check(path, method, status, request, label)

    // Every secured operation, without a token and with a revoked one.
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (op.security === undefined) continue
        const body = method === 'post' ? { amount: 1 } : undefined
        for (const [label, token] of [['no token', undefined], ['revoked token', revoked]] as const) {
          const res = await check(path, method, 401, { url: path, ...(token === undefined ? {} : { token }), ...(body === undefined ? {} : { body }) }, label)
          t.equal(res.headers.get('www-authenticate'), 'Bearer')
        }
      }
    }

    const operations = Object.values(spec.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId))
    t.same([...covered.keys()].sort(), [...operations].sort(), 'every operation of the file was called')
    for (const id of operations) {
      const statuses = covered.get(id) ?? new Set()
      t.ok([...statuses].some((s) => s < 300), `${id}: a success answer was checked`)
      t.ok([...statuses].some((s) => s >= 400), `${id}: an error answer was checked`)
    }
    t.ok(w.ledger.checkInvariants().length === 0, 'ledger invariants hold')
    t.equal(w.ledger.balanceOf(UID.alice), 2100, 'the walk moved no money')
  })
}
