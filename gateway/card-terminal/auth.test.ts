import t from 'tap'
import { makeWorld } from '../ledger/testing/test-helpers.js'
import { createBearerAuth } from './auth.js'

t.test('kiosk and operator bearer tokens', async (t) => {
  const world = makeWorld()
  t.teardown(() => world.close())
  const auth = createBearerAuth({ kioskAuth: (id, token) => world.ledger.registry.kioskAuth(id, token), operators: [{ name: 'anna', token: 'anna-secret-0123456789' }] })
  t.same(auth('bar-1:token-of-bar-1-0123456789abcdef'), { role: 'kiosk', id: 'bar-1' })
  t.same(auth('operator:anna:anna-secret-0123456789'), { role: 'operator', id: 'anna' })
  for (const bad of [
    'bar-1:wrong',
    'food-1:token-of-bar-1-0123456789abcdef',
    'nobody:token-of-bar-1-0123456789abcdef',
    'token-of-bar-1-0123456789abcdef',
    ':token-of-bar-1-0123456789abcdef',
    'bar-1:',
    'operator:anna:wrong',
    'operator:bob:anna-secret-0123456789',
    'operator::anna-secret-0123456789',
    'operator:anna',
    '',
  ])
    t.equal(auth(bad), null, JSON.stringify(bad))
})
