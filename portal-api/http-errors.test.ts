// The one error handler of the HTTP APIs: the same {type, id, message} body for
// every API, each API's own choices passed as options.
import t from 'tap'
import Fastify from 'fastify'
import { apiErrorHandler } from './http-errors.js'

class OwnError extends Error {
  constructor(readonly status: number, readonly type: string, message: string) {
    super(message)
  }
}

async function appWith(options: Partial<Parameters<typeof apiErrorHandler>[0]>) {
  const app = Fastify({ logger: false })
  app.setErrorHandler(
    apiErrorHandler({
      known: (error) => (error instanceof OwnError ? { status: error.status, type: error.type, message: error.message } : undefined),
      validation: { status: 422, type: 'invalid_request' },
      failureLog: 'failed',
      ...options,
    }),
  )
  app.get('/own/:status', async (request) => {
    const status = Number((request.params as { status: string }).status)
    throw new OwnError(status, 'own_type', 'own message')
  })
  app.get('/bug', async () => {
    throw new Error('secret detail 1234')
  })
  app.post('/typed', { schema: { body: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } } } }, async () => ({}))
  await app.ready()
  return app
}

t.test('an own error keeps its status, type and message; a bug is a 500 without its message', async (t) => {
  const app = await appWith({})
  t.teardown(() => app.close())
  const own = await app.inject({ method: 'GET', url: '/own/409' })
  t.equal(own.statusCode, 409)
  t.same(own.json(), { type: 'own_type', id: own.json().id, message: 'own message' })
  t.type(own.json().id, 'string')
  t.notOk(own.headers['www-authenticate'])
  const bug = await app.inject({ method: 'GET', url: '/bug' })
  t.equal(bug.statusCode, 500)
  t.same(bug.json(), { type: 'internal', id: bug.json().id, message: 'internal error' })
  t.notMatch(bug.body, /1234/)
})

t.test('schema violations and fastify client errors follow the options', async (t) => {
  const plain = await appWith({})
  const seed = await appWith({ clientStatus: (s) => (s === 400 ? 422 : s), clientType: () => 'bad_request', validation: { status: 400, type: 'validation_error', detail: () => [{ loc: ['body'] }] }, bearerChallenge: true })
  t.teardown(() => Promise.all([plain.close(), seed.close()]))
  const badJson = { method: 'POST' as const, url: '/typed', headers: { 'content-type': 'application/json' }, payload: '{"a": "PIN-SECRET' }
  const invalid = { method: 'POST' as const, url: '/typed', payload: { b: 1 } }

  const plainJson = await plain.inject(badJson)
  t.equal(plainJson.statusCode, 400)
  t.equal(plainJson.json().type, 'ctp_invalid_json_body', 'the type is fastify\'s code without FST_ERR_')
  t.notMatch(plainJson.body, /PIN-SECRET/, 'the body is never quoted')
  const seedJson = await seed.inject(badJson)
  t.equal(seedJson.statusCode, 422)
  t.equal(seedJson.json().type, 'bad_request')

  const plainInvalid = await plain.inject(invalid)
  t.equal(plainInvalid.statusCode, 422)
  t.equal(plainInvalid.json().type, 'invalid_request')
  t.notOk('detail' in plainInvalid.json())
  const seedInvalid = await seed.inject(invalid)
  t.equal(seedInvalid.statusCode, 400)
  t.same(seedInvalid.json().detail, [{ loc: ['body'] }])

  t.equal((await seed.inject({ method: 'GET', url: '/own/401' })).headers['www-authenticate'], 'Bearer', 'bearer challenge on a 401')
  t.notOk((await seed.inject({ method: 'GET', url: '/own/403' })).headers['www-authenticate'])
  t.notOk((await plain.inject({ method: 'GET', url: '/own/401' })).headers['www-authenticate'])
})
