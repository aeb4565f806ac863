// The demo's payment simulators: the gateway config they make names all three
// providers, SumUp stays the portal's default, and the payments provider
// simulator is the gateway's `stancer` provider, its webhooks sent to the gateway.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { DEFAULT_CONFIG, resolveConfig } from '../../gateway/config.js'
import { createStancerClient } from '../../gateway/payments/stancer-client.js'
import { startPaymentSimulators } from './payment-sims.js'

t.test('the payments provider simulator is configured as stancer beside SumUp (still the default) and Stripe', async (t) => {
  const sims = await startPaymentSimulators()
  t.teardown(() => sims.close())
  const config = resolveConfig({ payments: { ...DEFAULT_CONFIG.payments, ...sims.payments } })
  t.equal(config.payments.defaultProvider, 'sumup', 'the demo keeps its provider')
  t.equal(config.payments.stancer?.baseUrl, sims.provider.baseUrl)
  const client = createStancerClient({ secretKey: config.payments.stancer!.secretKey, baseUrl: config.payments.stancer!.baseUrl })
  const intent = await client.createPaymentIntent({ amount: 500, currency: 'eur', order_id: 'demo-check' })

  const paths: string[] = []
  const gateway = createServer((req, res) => {
    paths.push(req.url ?? '')
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}'))
  })
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => gateway.close(() => resolve())))
  sims.connect(`http://127.0.0.1:${(gateway.address() as AddressInfo).port}`)
  sims.provider.controls.payIntent(intent.id, 'paid')
  await sims.provider.controls.flushWebhooks()
  t.ok(paths.length > 0 && paths.every((p) => p === '/payments/webhooks/stancer'), 'its webhooks go to the gateway\'s stancer route')
})
