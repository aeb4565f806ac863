import t from 'tap'
import { createConnectionAdmission, type AdmissionLimits } from './connection-admission.js'

const LIMITS: AdmissionLimits = { maxConnections: 10, reservedKioskConnections: 3, maxConnectionsPerAddress: 4 }

t.test('pending connections use only the unreserved part; the oldest makes room for a newcomer', async (t) => {
  const admission = createConnectionAdmission<string>(LIMITS)
  for (let i = 0; i < 7; i++) t.same(admission.admit(`c${i}`, `10.0.0.${i}`), { admitted: true, evict: null })
  t.same(admission.admit('c7', '10.0.0.7'), { admitted: true, evict: 'c0' }, 'unreserved part (10 - 3) full: the oldest pending goes')
  t.same(admission.admit('c8', '10.0.0.8'), { admitted: true, evict: 'c1' })
  t.same(admission.counts(), { pending: 7, kiosks: 0, others: 0, addresses: 7 })
  admission.closed('c0') // already forgotten: nothing changes
  t.same(admission.counts(), { pending: 7, kiosks: 0, others: 0, addresses: 7 })
})

t.test('one address holds at most its share; its own oldest goes first', async (t) => {
  const admission = createConnectionAdmission<string>(LIMITS)
  admission.admit('other', '10.0.0.9')
  for (let i = 0; i < 4; i++) t.same(admission.admit(`a${i}`, '10.0.0.1'), { admitted: true, evict: null })
  t.same(admission.admit('a4', '10.0.0.1'), { admitted: true, evict: 'a0' }, 'not the older connection of another address')
  t.same(admission.counts(), { pending: 5, kiosks: 0, others: 0, addresses: 2 })
})

t.test('authenticated kiosks leave the pending pool and count only against the total', async (t) => {
  const admission = createConnectionAdmission<string>(LIMITS)
  for (let i = 0; i < 3; i++) {
    admission.admit(`k${i}`, '10.0.0.1')
    t.equal(admission.authenticated(`k${i}`, 'kiosk'), true)
  }
  for (let i = 0; i < 7; i++) t.same(admission.admit(`p${i}`, `10.0.1.${i}`), { admitted: true, evict: null }, 'the address of the kiosks is not full')
  t.same(admission.counts(), { pending: 7, kiosks: 3, others: 0, addresses: 7 })
  t.same(admission.admit('p7', '10.0.1.7'), { admitted: true, evict: 'p0' }, 'total full: a pending one goes, never a kiosk')
  admission.closed('k0')
  t.same(admission.counts(), { pending: 7, kiosks: 2, others: 0, addresses: 7 })
})

t.test('operators can never take the last slot a newcomer needs', async (t) => {
  const admission = createConnectionAdmission<string>(LIMITS)
  // Unreserved part 7: six operators fit, the seventh login is refused.
  for (let i = 0; i < 6; i++) {
    admission.admit(`o${i}`, `10.0.0.${i}`)
    t.equal(admission.authenticated(`o${i}`, 'other'), true)
  }
  admission.admit('o6', '10.0.0.6')
  t.equal(admission.authenticated('o6', 'other'), false, 'refused: it would fill the unreserved part')
  t.same(admission.admit('new', '10.0.0.7'), { admitted: true, evict: 'o6' }, 'so a newcomer always finds a pending connection to evict')
  t.equal(admission.authenticated('new', 'kiosk'), true, 'and a kiosk gets in')

  const perAddress = createConnectionAdmission<string>(LIMITS)
  for (let i = 0; i < 3; i++) {
    perAddress.admit(`o${i}`, '10.0.0.1')
    t.equal(perAddress.authenticated(`o${i}`, 'other'), true)
  }
  perAddress.admit('o3', '10.0.0.1')
  t.equal(perAddress.authenticated('o3', 'other'), false, 'nor the last slot of an address')
  t.same(perAddress.admit('kiosk', '10.0.0.1'), { admitted: true, evict: 'o3' })
})

t.test('refused only when authenticated kiosks fill the whole cap (more kiosks than the reserve)', async (t) => {
  const admission = createConnectionAdmission<string>({ maxConnections: 4, reservedKioskConnections: 1, maxConnectionsPerAddress: 100 })
  for (let i = 0; i < 4; i++) {
    admission.admit(`k${i}`, '10.0.0.1')
    admission.authenticated(`k${i}`, 'kiosk')
  }
  t.same(admission.admit('x', '10.0.0.2'), { admitted: false, reason: 'server_full' })
  admission.closed('k0')
  t.same(admission.admit('x', '10.0.0.2'), { admitted: true, evict: null })
})

t.test('closing forgets everything: no growth over many connections', async (t) => {
  const admission = createConnectionAdmission<number>(LIMITS)
  for (let i = 0; i < 10_000; i++) {
    admission.admit(i, `10.${(i >> 8) & 255}.${i & 255}.1`)
    if (i % 3 === 0) admission.authenticated(i, i % 2 === 0 ? 'kiosk' : 'other')
    admission.closed(i)
  }
  t.same(admission.counts(), { pending: 0, kiosks: 0, others: 0, addresses: 0 })
  t.same(admission.admit(-1, '10.0.0.1'), { admitted: true, evict: null })
})
