// The libpq connection string the gateway makes of a store URL: its bounds on
// every wait are added where the URL does not set them, and what the URL says
// reaches libpq as written (libpq decodes %XX but not '+').
import t from 'tap'
import { conninfoOf } from './connection.js'

t.test('the bounds are added after what the URL says, which stays as written', async (t) => {
  const url = 'postgres://wristpay@db1.example,db2.example/wristpay?port=5432&options=-c%20statement_timeout%3D5000&target_session_attrs=read-write'
  const conninfo = conninfoOf({ url })
  t.ok(conninfo.startsWith(`${url}&`), 'the URL unchanged, the defaults after it')
  t.notOk(conninfo.includes('+'), 'no form-encoded spaces')
  const params = new URL(conninfo.replace('db1.example,db2.example', 'db1.example')).searchParams
  t.equal(params.get('options'), '-c statement_timeout=5000')
  t.equal(params.get('connect_timeout'), '5')
  t.equal(params.get('keepalives'), '1')
  t.equal(params.get('application_name'), 'wristpay-gateway')
})

t.test('a bound the URL sets is kept; none added twice; a URL without a query gets one', async (t) => {
  const own = conninfoOf({ url: 'postgres://wristpay@db/wristpay?connect_timeout=30&application_name=gw-east' })
  const params = new URL(own).searchParams
  t.same(params.getAll('connect_timeout'), ['30'])
  t.same(params.getAll('application_name'), ['gw-east'])
  t.equal(params.get('tcp_user_timeout'), '10000')
  t.match(conninfoOf({ url: 'postgres://wristpay@db/wristpay', connectTimeoutSeconds: 2 }), /^postgres:\/\/wristpay@db\/wristpay\?connect_timeout=2&/)
  t.match(conninfoOf({ url: 'postgres://wristpay@db/wristpay?' }), /^postgres:\/\/wristpay@db\/wristpay\?connect_timeout=5&/)
})

t.test('not a postgres URL: a clear error', async (t) => {
  t.throws(() => conninfoOf({ url: 'mysql://db/x' }), /wants a postgres:\/\/ URL, not mysql:/)
  t.throws(() => conninfoOf({ url: 'db:5432' }), /wants a postgres:\/\/ URL|wants a URL/)
})
