// The controls over HTTP, for the demo and for tests in another process:
// `/_control/...`, JSON bodies, the same secret key as the API. Never subject
// to injected faults.
import { badRequest } from './errors.js'
import type { Route } from './route.js'
import type { ProviderSimControls } from './server.js'
import type { PayoutStatus } from './state.js'
import { bodyFields, optAmount, optEnum, optInteger, optString, required, optUrl } from './validate.js'
import type { WebhookSender } from './webhooks.js'
import { PAYOUT_STATUSES } from './payouts.js'

const NONE = { ok: true }

export function controlRoutes(controls: ProviderSimControls, webhooks: WebhookSender): Route[] {
  return [
    {
      method: 'POST',
      path: '/_control/faults',
      handle(_ctx, { body }) {
        const f = bodyFields(body, ['kind', 'path', 'method', 'count', 'when', 'status_code', 'hang_ms'])
        const kind = required(f, 'kind', (x, n) => optEnum(x, n, ['timeout', 'error'] as const))
        const path = required(f, 'path', (x, n) => optString(x, n, 1, 200))
        if (!path.startsWith('/')) throw badRequest('path must start with /')
        const options = {
          count: optInteger(f, 'count', 1, 1000),
          method: optEnum(f, 'method', ['GET', 'POST', 'PATCH', 'DELETE'] as const),
          when: optEnum(f, 'when', ['before', 'after'] as const),
          statusCode: optInteger(f, 'status_code', 500, 599),
          hangMs: optInteger(f, 'hang_ms', 1, 600_000),
        }
        if (kind === 'timeout') controls.timeoutNext(path, options)
        else controls.failNext(path, options)
        return NONE
      },
    },
    {
      method: 'DELETE',
      path: '/_control/faults',
      handle() {
        controls.clearFaults()
        return NONE
      },
    },
    {
      method: 'POST',
      path: '/_control/webhooks',
      handle(_ctx, { body }) {
        const f = bodyFields(body, ['mode', 'count', 'url'])
        const url = optUrl(f, 'url')
        if (url !== undefined) webhooks.setUrl(url)
        const mode = optEnum(f, 'mode', ['once', 'twice', 'none'] as const)
        if (mode !== undefined) controls.setWebhookMode(mode, optInteger(f, 'count', 1, 1000))
        return NONE
      },
    },
    {
      method: 'POST',
      path: '/_control/payment_intents/:id/pay',
      handle(_ctx, { params, body }) {
        const f = bodyFields(body, ['outcome'])
        return controls.payIntent(params.id ?? '', optEnum(f, 'outcome', ['paid', 'declined', 'challenge'] as const) ?? 'paid')
      },
    },
    {
      method: 'POST',
      path: '/_control/payment_intents/:id/challenge',
      handle(_ctx, { params, body }) {
        const f = bodyFields(body, ['outcome'])
        return controls.completeChallenge(params.id ?? '', optEnum(f, 'outcome', ['passed', 'failed'] as const) ?? 'passed')
      },
    },
    {
      method: 'POST',
      path: '/_control/payments/:id/dispute',
      handle(_ctx, { params, body }) {
        const f = bodyFields(body, ['amount', 'response', 'type'])
        return controls.raiseDispute(params.id ?? '', { amount: optAmount(f), response: optString(f, 'response', 1, 8), type: optString(f, 'type', 1, 32) })
      },
    },
    {
      method: 'POST',
      path: '/_control/disputes/:id/resolve',
      handle(_ctx, { params, body }) {
        const f = bodyFields(body, ['outcome'])
        return controls.resolveDispute(params.id ?? '', required(f, 'outcome', (x, n) => optEnum(x, n, ['won', 'lost'] as const)))
      },
    },
    {
      method: 'POST',
      path: '/_control/settle',
      handle(_ctx, { body }) {
        const f = bodyFields(body, ['status'])
        return { payouts: controls.settleNow(optEnum<PayoutStatus>(f, 'status', PAYOUT_STATUSES)) }
      },
    },
    {
      method: 'POST',
      path: '/_control/payouts/:id/status',
      handle(_ctx, { params, body }) {
        const f = bodyFields(body, ['status'])
        return controls.setPayoutStatus(params.id ?? '', required(f, 'status', (x, n) => optEnum<PayoutStatus>(x, n, PAYOUT_STATUSES)))
      },
    },
    {
      method: 'POST',
      path: '/_control/sepa_check',
      handle(_ctx, { body }) {
        const f = bodyFields(body, ['mismatch_next', 'pending_next'])
        const mismatch = optInteger(f, 'mismatch_next', 0, 1000)
        const pending = optInteger(f, 'pending_next', 0, 1000)
        if (mismatch !== undefined) controls.mismatchNextChecks(mismatch)
        if (pending !== undefined) controls.pendingNextChecks(pending)
        return NONE
      },
    },
    {
      method: 'POST',
      path: '/_control/sepa_check/:id/complete',
      handle: (_ctx, { params }) => controls.completeCheck(params.id ?? ''),
    },
    {
      method: 'POST',
      path: '/_control/refunds',
      handle(_ctx, { body }) {
        const f = bodyFields(body, ['refuse_next'])
        controls.refuseNextRefunds(required(f, 'refuse_next', (x, n) => optInteger(x, n, 0, 1000)))
        return NONE
      },
    },
  ]
}
