// The payment providers of the demo and the end-to-end tests: the SumUp-style
// hosted checkout simulator and the Stripe simulator on loopback, and the
// gateway config that points the real adapters at them. The payments
// provider simulator (seed 004) runs beside them as the `stancer` provider
// (configured, with refunds to the card); SumUp is the portal's default unless
// the caller asks for stancer (the demo does, for its card side).
import type { PaymentsConfig } from '../../gateway/config.js'
import { createProviderSim, type ProviderSim } from '../provider-sim/index.js'
import { startStripeSim, type StripeSim } from '../stripe-sim/index.js'
import { startSumUpSim, type SumUpSim } from '../sumup-sim.js'

const SUMUP_API_KEY = 'sup_sk_simulated_0123456789'
const SUMUP_MERCHANT = 'MSIM0001'
const STRIPE_API_KEY = 'sk_test_simulated_0123456789'
const PROVIDER_SECRET_KEY = 'stest_simulated_0123456789'

export interface PaymentSimulators {
  sumup: SumUpSim
  stripe: StripeSim
  /** The payments provider simulator (secret key PROVIDER_SECRET_KEY), the gateway's `stancer` provider. */
  provider: ProviderSim
  /** The provider part of the gateway's `payments` config. */
  payments: Pick<PaymentsConfig, 'sumup' | 'stripe' | 'stancer' | 'defaultProvider'>
  /** Once the gateway listens: Stripe's and the payments provider's webhooks go to it (SumUp's name their target per checkout). */
  connect(gatewayHttpBase: string): void
  close(): Promise<void>
}

/** defaultProvider: the portal's online top-up provider (SumUp unless told; the demo's card side needs stancer). */
export async function startPaymentSimulators(options: { defaultProvider?: 'sumup' | 'stancer' } = {}): Promise<PaymentSimulators> {
  const sumup = await startSumUpSim({ apiKey: SUMUP_API_KEY, merchantCode: SUMUP_MERCHANT, webhookMode: 'once' })
  const stripe = await startStripeSim({ apiKey: STRIPE_API_KEY, webhookMode: 'once' }).catch(async (err: unknown) => {
    await sumup.close()
    throw err
  })
  const provider = createProviderSim({ secretKey: PROVIDER_SECRET_KEY })
  await provider.listen().catch(async (err: unknown) => {
    await Promise.allSettled([sumup.close(), stripe.close()])
    throw err
  })
  return {
    sumup,
    stripe,
    provider,
    payments: {
      defaultProvider: options.defaultProvider ?? 'sumup',
      sumup: { baseUrl: sumup.baseUrl, apiKey: SUMUP_API_KEY, merchantCode: SUMUP_MERCHANT },
      stripe: { baseUrl: stripe.baseUrl, secretKey: stripe.apiKey, publishableKey: stripe.publishableKey, webhookSecret: stripe.webhookSecret },
      stancer: { baseUrl: provider.baseUrl, secretKey: PROVIDER_SECRET_KEY },
    },
    connect(gatewayHttpBase) {
      stripe.control.setWebhookUrl(`${gatewayHttpBase}/payments/webhooks/stripe`)
      provider.controls.setWebhookUrl(`${gatewayHttpBase}/payments/webhooks/stancer`)
    },
    async close() {
      await Promise.allSettled([sumup.close(), stripe.close(), provider.close()])
    },
  }
}
