// The users-and-payments API's records on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts): the store on a
// bare database; users.test.ts and payments.test.ts test the API over HTTP on SQLite.
import t from 'tap'
import { sqlEngines } from '../testing/sql-engines.js'
import { EmailTakenError, createUsersStore } from './store.js'

const engines = await sqlEngines(t)

const user = (id: string, email: string, createdAt: number, createdBy?: string) => ({ id, userName: `user ${id}`, email, passwordHash: 'scrypt$x', createdAt, ...(createdBy === undefined ? {} : { createdBy }) })

for (const engine of engines) {
  t.test(`${engine.name}: an address belongs to one live user; a deleted user frees it`, async (t) => {
    const store = createUsersStore(engine.open(t))
    const anna = store.insertUser(user('u1', 'anna@example.org', 1))
    t.match(anna, { id: 'u1', email: 'anna@example.org', customerId: null, createdBy: null })
    t.throws(() => store.insertUser(user('u2', 'anna@example.org', 2)), EmailTakenError, 'a taken address is told as such')
    t.equal(store.userById('u2'), undefined)
    store.insertUser(user('u2', 'ben@example.org', 2, 'u1'))
    store.insertUser(user('u3', 'cleo@example.org', 2, 'u1'))
    t.throws(() => store.updateUser('u2', { email: 'anna@example.org' }), EmailTakenError)
    t.equal(store.updateUser('u2', { userName: 'Ben' }).email, 'ben@example.org', 'a change leaves out what it does not name')
    t.same(store.usersCreatedBy('u1').map((u) => u.id), ['u2', 'u3'])
    store.setLinkedUid('u1', '04A1', 5)
    t.throws(() => store.setLinkedUid('u1', '04B2', 6), /already linked/)
    t.equal(store.userByLinkedUid('04A1')?.id, 'u1')
    store.deleteUser('u1', 7)
    t.equal(store.userByEmail('anna@example.org'), undefined)
    t.equal(store.insertUser(user('u4', 'anna@example.org', 8)).id, 'u4', 'the address registers again')
    t.equal(store.linkedUidOf('u1'), '04A1', 'the link stays as the record of where the money went')
  })

  t.test(`${engine.name}: a payment is written ahead of its intent once, and booked once`, async (t) => {
    const store = createUsersStore(engine.open(t))
    store.insertUser(user('u1', 'anna@example.org', 1))
    t.ok(store.insertCreatingPayment({ userId: 'u1', cuid: 'c1', amount: 1500, currency: 'EUR', at: 10 }))
    t.notOk(store.insertCreatingPayment({ userId: 'u1', cuid: 'c1', amount: 9999, currency: 'EUR', at: 11 }), 'the same cuid again writes nothing')
    t.ok(store.insertCreatingPayment({ userId: 'u1', cuid: 'c2', amount: 500, currency: 'EUR', at: 10 }))
    t.same(store.paymentsOfUser('u1'), [], 'not listed before it has an intent')
    store.setPaymentIntent('u1', 'c2', { intentId: 'pi_2', status: 'requires_payment_method', paymentMethod: null, clientSecret: 's2' }, 12)
    store.setPaymentIntent('u1', 'c1', { intentId: 'pi_1', status: 'requires_payment_method', paymentMethod: null, clientSecret: 's1' }, 12)
    t.same(store.openPayments(10).map((p) => p.intentId), ['pi_1', 'pi_2'], 'equally old: in the order they were written')
    t.same(store.paymentsOfUser('u1').map((p) => p.cuid), ['c2', 'c1'], 'newest first')
    store.setPaymentStatus('pi_1', 'succeeded', 'pm_card', 13)
    store.markPaymentBooked('pi_1', 'booking-1', 'prepaid:u1', 14)
    t.throws(() => store.markPaymentBooked('pi_1', 'booking-2', 'prepaid:u1', 15), /already booked/)
    t.match(store.paymentByIntent('pi_1'), { amount: 1500, status: 'succeeded', paymentMethod: 'pm_card', bookingId: 'booking-1', updatedAt: 14 })
    store.setPaymentStatus('pi_1', 'succeeded', null, 16)
    t.equal(store.paymentByCuid('u1', 'c1')?.paymentMethod, 'pm_card', 'kept when the news names none')
    t.same(store.openPayments(10).map((p) => p.intentId), ['pi_2'])
  })
}
