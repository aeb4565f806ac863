// The `reconcile provider` command's arguments and its refusals before it talks to
// a gateway (the runs themselves: reconciliation.test.ts, against a real gateway).
import t from 'tap'
import { parseReconcileArgs, ReconcileUsageError, runReconcileCommand } from './reconciliation-command.js'

t.test('arguments', async (t) => {
  t.same(parseReconcileArgs(['provider']), { mode: 'all', show: false, json: false })
  t.same(parseReconcileArgs(['provider', '--since', '--json', '--url', 'http://127.0.0.1:9']), { mode: 'since', show: false, json: true, url: 'http://127.0.0.1:9' })
  t.same(parseReconcileArgs(['provider', '--show']), { mode: 'all', show: true, json: false })
  t.throws(() => parseReconcileArgs([]), ReconcileUsageError)
  t.throws(() => parseReconcileArgs(['bank']), /unknown reconcile command "bank"/)
  t.throws(() => parseReconcileArgs(['provider', '--show', '--since']), /--show runs nothing/)
  t.throws(() => parseReconcileArgs(['provider', '--what']), ReconcileUsageError)
})

t.test('usage and config errors exit 2 without a request', async (t) => {
  const err: string[] = []
  let requests = 0
  const io = { stdout: () => undefined, stderr: (text: string) => void err.push(text), transport: () => async () => ((requests += 1), { status: 200, json: {} }) }
  t.equal(await runReconcileCommand(['nothing'], {}, io), 2)
  t.match(err.join(''), /Usage:\n  reconcile provider/)
  t.equal(await runReconcileCommand(['provider'], {}, io), 2, 'no admin token')
  t.match(err.join(''), /no admin token/)
  t.equal(requests, 0)
})

t.test('an unreachable gateway exits 1', async (t) => {
  const err: string[] = []
  const io = { stdout: () => undefined, stderr: (text: string) => void err.push(text), transport: () => async () => Promise.reject(new Error('connect ECONNREFUSED')) }
  t.equal(await runReconcileCommand(['provider'], { WRISTPAY_GATEWAY_ADMIN_TOKEN: 'admin-token-for-tests-0123' }, io), 1)
  t.match(err.join(''), /cannot be reached: connect ECONNREFUSED/)
})
