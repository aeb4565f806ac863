// SEPA checks: an IBAN and a holder's name in, a check id out; the check
// says whether the name matches, and can be told to answer mismatch or to
// stay pending for a while.
import t from 'tap'
import { isValidIban, MISMATCH_SCORE } from './sepa-checks.js'
import { api, startSim } from './testing/sim-client.js'

const IBAN = 'DE89370400440532013000'

t.test('a check answers its id; retrieving it gives the name score and status', async (t) => {
  const sim = await startSim(t)
  const created = await api(sim, 'POST', '/v2/sepa_check', { json: { iban: IBAN, person: { name: 'Ada Lovelace' } } })
  t.equal(created.status, 200)
  t.same(Object.keys(created.body), ['id'], 'only the id, as the seed shows')
  t.match(created.body.id, /^chck_[a-zA-Z0-9]{24}$/)
  const check = (await api(sim, 'GET', `/v2/sepa_check/${created.body.id}`)).body
  t.same(Object.keys(check).sort(), ['check_type', 'company', 'created', 'id', 'person', 'status'])
  t.match(check, { check_type: 'person', status: 'succeeded', company: null, person: { name: 'Ada Lovelace', score_name: 1 } })
  const company = await api(sim, 'POST', '/v2/sepa_check', { json: { iban: IBAN, company: { name: 'Festival GmbH', vat: 'DE123' } } })
  t.match((await api(sim, 'GET', `/v2/sepa_check/${company.body.id}`)).body, { check_type: 'company', company: { name: 'Festival GmbH', score_name: 1 } })
})

t.test('the next checks can answer mismatch, or stay pending until completed', async (t) => {
  const sim = await startSim(t)
  sim.controls.mismatchNextChecks(1)
  const mismatch = await api(sim, 'POST', '/v2/sepa_check', { json: { iban: IBAN, person: { name: 'Somebody Else' } } })
  t.equal((await api(sim, 'GET', `/v2/sepa_check/${mismatch.body.id}`)).body.person.score_name, MISMATCH_SCORE)
  const next = await api(sim, 'POST', '/v2/sepa_check', { json: { iban: IBAN, person: { name: 'Ada' } } })
  t.equal((await api(sim, 'GET', `/v2/sepa_check/${next.body.id}`)).body.person.score_name, 1, 'only the next one')
  t.equal((await api(sim, 'POST', '/_control/sepa_check', { json: { mismatch_next: 1, pending_next: 1 } })).status, 200)
  const held = await api(sim, 'POST', '/v2/sepa_check', { json: { iban: IBAN, person: { name: 'Ada' } } })
  t.match((await api(sim, 'GET', `/v2/sepa_check/${held.body.id}`)).body, { status: 'pending', person: { score_name: null } }, 'no score while pending')
  const done = await api(sim, 'POST', `/_control/sepa_check/${held.body.id}/complete`)
  t.match(done.body, { status: 'succeeded', person: { score_name: MISMATCH_SCORE } })
  t.equal((await api(sim, 'POST', `/_control/sepa_check/${held.body.id}/complete`)).status, 409)
})

t.test('bad checks: missing or invalid IBAN, no or both holders, unknown fields and ids', async (t) => {
  const sim = await startSim(t)
  const cases: Array<[unknown, string]> = [
    [{ person: { name: 'Ada' } }, 'Missing field: iban'],
    [{ iban: 'DE89370400440532013001', person: { name: 'Ada' } }, 'not a valid IBAN'],
    [{ iban: 'short', person: { name: 'Ada' } }, 'iban must be'],
    [{ iban: IBAN }, 'either person or company'],
    [{ iban: IBAN, person: { name: 'Ada' }, company: { name: 'X' } }, 'either person or company'],
    [{ iban: IBAN, person: {} }, 'Missing field: name'],
    [{ iban: IBAN, person: { name: 'Ada', shoe_size: 9 } }, 'Unknown field: shoe_size'],
    [{ iban: IBAN, person: 'Ada' }, 'JSON object'],
  ]
  for (const [json, message] of cases) {
    const answer = await api(sim, 'POST', '/v2/sepa_check', { json })
    t.equal(answer.status, 400, message)
    t.match(answer.body.error, message)
  }
  t.equal(sim.state.checks.size, 0)
  t.equal((await api(sim, 'GET', '/v2/sepa_check/chck_AAAAAAAAAAAAAAAAAAAAAAAA')).status, 404)
  t.ok(isValidIban('FR14 2004 1010 0505 0001 3M02 606'), 'spaces and letters in the account part')
  t.notOk(isValidIban('FR1420041010050500013M02607'))
})
