import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import Type from 'typebox'
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { portalApi } from '../portal-api/index.js'
import { createMemoryPortalBackend } from '../portal-api/testing/memory-backend.js'
import { TEST_SECRET, fakeTopups, manualClock, recordingPinAttempts } from '../portal-api/testing/helpers.js'
import { portalWeb } from '../portal-api/web-plugin.js'
import { BEARER_SECURITY_SCHEME, registerDocs } from './docs.js'

const Body = Type.Object({ name: Type.String({ minLength: 1 }), qty: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })
const Reply = Type.Object({ ok: Type.Boolean() }, { additionalProperties: false })

async function appWithDocs(t: Test): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  registerDocs(app, { title: 'wristpay test', version: '9.9.9' })
  // Root routes too go in a plugin registered after registerDocs: see its comment. Not awaited, as in http.ts.
  void app.register(async (scope) => {
    scope.post('/things', { schema: { body: Body, response: { 200: Reply }, security: [{ [BEARER_SECURITY_SCHEME]: [] }] } }, async () => ({ ok: true }))
  })
  // A plugin under a prefix, as the portal API is mounted.
  void app.register(
    async (scope) => {
      scope.get('/items/:id', { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } }, async () => ({}))
      scope.get('/secret-page', { schema: { hide: true } }, async () => 'hidden')
    },
    { prefix: '/api' },
  )
  await app.ready()
  return app
}

t.test('the OpenAPI document lists the routes with the schemas that validate them', async (t) => {
  const app = await appWithDocs(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc, { openapi: /^3\./, info: { title: 'wristpay test', version: '9.9.9' } })
  const things = doc.paths['/things']?.post
  t.ok(things, 'POST /things is documented')
  t.match(things.requestBody.content['application/json'].schema, {
    type: 'object',
    required: ['name', 'qty'],
    properties: { name: { type: 'string', minLength: 1 }, qty: { type: 'integer', minimum: 1 } },
    additionalProperties: false,
  })
  t.match(things.responses['200'].content['application/json'].schema, { properties: { ok: { type: 'boolean' } } })
  t.same(things.security, [{ bearerAuth: [] }])
  t.match(doc.components.securitySchemes, {
    bearerAuth: { type: 'http', scheme: 'bearer' },
    OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { tokenUrl: '/api/auth/login' } } },
  })
  t.match(doc.paths['/api/items/{id}'].get.parameters, [{ in: 'path', name: 'id', required: true, schema: { type: 'string', format: 'uuid' } }])
  t.notOk(doc.paths['/api/secret-page'], 'a route with schema.hide is not listed')
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/docs')), 'the docs routes do not document themselves')
})

t.test('the validation documented is the validation enforced', async (t) => {
  const app = await appWithDocs(t)
  const bad = await app.inject({ method: 'POST', url: '/things', payload: { name: '', qty: 0 } })
  t.equal(bad.statusCode, 400)
  const good = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', qty: 1 } })
  t.equal(good.statusCode, 200)
})

t.test('the UI and its assets are served by this server, not a CDN', async (t) => {
  const app = await appWithDocs(t)
  const index = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(index.statusCode, 200)
  t.match(index.headers['content-type'], /text\/html/)
  const html = index.body
  const assetUrls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  t.ok(assetUrls.length > 0, 'the page loads assets')
  t.same(assetUrls.filter((u) => /^(https?:)?\/\//.test(u)), [], 'no asset comes from another origin')
  t.match(index.headers['content-security-policy'], /default-src 'self'/)
  const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(bundle.statusCode, 200)
  t.ok(bundle.body.length > 100_000, 'the swagger-ui bundle itself is served')
  const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.equal(init.statusCode, 200)
  t.notMatch(init.body, /validator\.swagger\.io/)
})

t.test('with the portal API mounted, every operation of the seed is documented under its prefix; the page is not', async (t) => {
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } })
  t.teardown(() => app.close())
  registerDocs(app, { title: 'wristpay gateway', version: '0.1.0' })
  const backend = createMemoryPortalBackend({ guests: [], topups: fakeTopups() })
  await app.register(portalApi, { prefix: '/api', backend, authSecret: TEST_SECRET, clock: manualClock(), logger: pino({ level: 'silent' }), pinAttempts: recordingPinAttempts() })
  await app.register(portalWeb, { prefix: '/portal' })
  await app.ready()
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()

  const seed = JSON.parse(readFileSync(new URL('../portal-api/customer-portal-openapi.json', import.meta.url), 'utf8'))
  const expected: string[] = []
  for (const [path, operations] of Object.entries(seed.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(operations)) expected.push(`${method.toUpperCase()} /api${path}`)
  }
  const documented: string[] = []
  for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(operations)) documented.push(`${method.toUpperCase()} ${path}`)
  }
  t.ok(expected.length >= 13)
  t.same(expected.filter((op) => !documented.includes(op)), [], 'no seed operation is missing from /docs')
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/portal')), 'the page is not an API')

  // Every security requirement names a declared scheme.
  const declared = Object.keys(doc.components.securitySchemes)
  const used = new Set<string>()
  for (const operations of Object.values(doc.paths as Record<string, Record<string, { security?: Record<string, unknown>[] }>>)) {
    for (const op of Object.values(operations)) for (const requirement of op.security ?? []) for (const name of Object.keys(requirement)) used.add(name)
  }
  t.ok(used.size > 0)
  t.same([...used].filter((name) => !declared.includes(name)), [], 'no undeclared security scheme')
})
