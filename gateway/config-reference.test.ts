// CONFIGURATION.md holds the gateway's settings as the schema generates
// them: this test fails when they drift. Regenerate the section with
// WRISTPAY_UPDATE_DOCS=1 npx tap gateway/config-reference.test.ts (or paste
// the output of wristpay-gateway --print-config-reference).
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeConfigSchema, generatedSection, replaceGeneratedSection } from '../device-protocol/config-reference.js'
import { GatewayConfig, resolveConfig } from './config.js'
import { gatewayConfigReference, printableGatewayConfig } from './config-reference.js'

const DOC = join(dirname(dirname(fileURLToPath(import.meta.url))), 'CONFIGURATION.md')

t.test('CONFIGURATION.md lists the gateway settings exactly as the schema does', async (t) => {
  const generated = gatewayConfigReference()
  if (process.env.WRISTPAY_UPDATE_DOCS === '1') writeFileSync(DOC, replaceGeneratedSection(readFileSync(DOC, 'utf8'), 'gateway', generated))
  t.equal(generatedSection(readFileSync(DOC, 'utf8'), 'gateway'), generated, 'stale: run WRISTPAY_UPDATE_DOCS=1 npx tap gateway/config-reference.test.ts')
})

t.test('every gateway setting is described, and every credential is marked secret', async (t) => {
  const rows = describeConfigSchema(GatewayConfig)
  t.ok(rows.length > 40)
  for (const row of rows) {
    t.ok(row.description.length > 0, `${row.key} has a description`)
    // A path to a secret is not itself secret; the publishable key is public by design.
    if (/token|secret|apikey|password/i.test(row.key.split('.').at(-1)!) && !['pinSecretFile', 'payments.stripe.publishableKey'].includes(row.key)) t.ok(row.secret, `${row.key} is marked secret`)
  }
})

t.test('printableGatewayConfig masks every secret and keeps the rest', async (t) => {
  const config = resolveConfig({
    eventFile: '/etc/wristpay/event.json',
    adminToken: 'admin-token-0123456789',
    operators: [{ name: 'ops', token: 'operator-token-0123' }],
    payments: {
      minTopupCents: 100,
      maxTopupCents: 100_000,
      venue: { line1: 'x', city: 'y', postal_code: '1', country: 'DE' },
      sumup: { baseUrl: 'https://sumup.example', apiKey: 'sumup-api-key-0123', merchantCode: 'M1', webhookSecret: 'sumup-hook-0123' },
      stripe: { secretKey: 'sk_test_0123456', publishableKey: 'pk_test_0123456', webhookSecret: 'whsec_0123456' },
      stancer: { baseUrl: 'https://stancer.example', secretKey: 'stest_stancer_0123456' },
    },
  })
  const printed = printableGatewayConfig(config) as Record<string, any>
  t.equal(printed.eventFile, '/etc/wristpay/event.json')
  t.equal(printed.adminToken, '[secret]')
  t.same(printed.operators, [{ name: 'ops', token: '[secret]' }])
  t.same(printed.payments.sumup, { baseUrl: 'https://sumup.example', apiKey: '[secret]', merchantCode: 'M1', webhookSecret: '[secret]' })
  t.same(printed.payments.stripe, { secretKey: '[secret]', publishableKey: 'pk_test_0123456', webhookSecret: '[secret]' })
  t.same(printed.payments.stancer, { baseUrl: 'https://stancer.example', secretKey: '[secret]' })
  t.notMatch(JSON.stringify(printed), /admin-token-0123|operator-token-0123|sumup-api-key|sumup-hook|sk_test|whsec|stest_stancer/)
})
