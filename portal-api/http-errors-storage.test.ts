// A write the database cannot take (here a really full SQLite file: its
// max_page_count reached) is answered 503 storage_unavailable with a
// Retry-After, not a 500: nothing was changed and it passes once there is space.
import t from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { STORAGE_RETRY_AFTER_S, apiErrorHandler } from './http-errors.js'

t.test('a full database answers 503 storage_unavailable; the same request works once there is space', async (t) => {
  const db = new Database(join(t.testdir(), 'full.sqlite'))
  t.teardown(() => db.close())
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE notes (text TEXT NOT NULL)')
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  const insert = db.prepare('INSERT INTO notes (text) VALUES (?)')

  const app = Fastify({ logger: false })
  app.setErrorHandler(apiErrorHandler({ known: () => undefined, validation: { status: 400, type: 'invalid_request' }, failureLog: 'failed' }))
  app.post('/notes', async () => {
    insert.run('x'.repeat(3_000))
    return { stored: true }
  })
  await app.ready()
  t.teardown(() => app.close())

  let answer = await app.inject({ method: 'POST', url: '/notes' })
  for (let i = 0; i < 20 && answer.statusCode === 200; i++) answer = await app.inject({ method: 'POST', url: '/notes' })
  t.equal(answer.statusCode, 503)
  t.same(answer.json(), { type: 'storage_unavailable', id: answer.json().id, message: 'the gateway cannot store anything right now (SQLITE_FULL); nothing was changed, try again later' })
  t.equal(answer.headers['retry-after'], String(STORAGE_RETRY_AFTER_S))
  const stored = (db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n

  db.pragma('max_page_count = 1073741823')
  const again = await app.inject({ method: 'POST', url: '/notes' })
  t.equal(again.statusCode, 200, 'no restart needed')
  t.equal((db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, stored + 1)
})

t.test('SQLITE_BUSY and SQLITE_IOERR are storage_unavailable too; other database errors stay internal', async (t) => {
  const app = Fastify({ logger: false })
  app.setErrorHandler(apiErrorHandler({ known: () => undefined, validation: { status: 400, type: 'invalid_request' }, failureLog: 'failed' }))
  app.get('/fail/:code', async (request) => {
    const code = (request.params as { code: string }).code
    throw Object.assign(new Error(`database said ${code}`), { code })
  })
  await app.ready()
  t.teardown(() => app.close())
  for (const code of ['SQLITE_BUSY', 'SQLITE_IOERR_WRITE', 'SQLITE_FULL', 'ENOSPC']) {
    const answer = await app.inject({ method: 'GET', url: `/fail/${code}` })
    t.equal(answer.statusCode, 503, code)
    t.equal(answer.json().type, 'storage_unavailable')
  }
  const constraint = await app.inject({ method: 'GET', url: '/fail/SQLITE_CONSTRAINT_UNIQUE' })
  t.equal(constraint.statusCode, 500)
  t.equal(constraint.json().type, 'internal')
})
