// Admin routes of provider payout reconciliation (inside /admin, behind its
// bearer token): run it now, and read the latest report (README "Reading the
// reconciliation report").
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { HttpError, errorResponses } from '../http.js'
import { ProviderError } from './provider.js'
import type { Reconciliation } from './reconciliation.js'

const RunBody = Type.Object({ mode: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('since')])) }, { additionalProperties: false })
// The report is our own JSON (reconciliation.ts ReconciliationReport); answered as it is stored.
const ReportReply = Type.Object({ provider: Type.String(), clean: Type.Boolean() }, { additionalProperties: true })

export function reconciliationAdmin({ reconciliation }: { reconciliation: Reconciliation }): FastifyPluginAsync {
  return async (scope) => {
    scope.post<{ Body: unknown }>(
      '/reconciliation/run',
      // The body is optional (a bare POST runs over all payouts), so it is checked here rather than by a body schema.
      { schema: { response: { 200: ReportReply, ...errorResponses } } },
      async (request) => {
        const body = request.body ?? {}
        if (!Value.Check(RunBody, body)) throw new HttpError(400, 'invalid_request', 'the body may only say {"mode": "all"} or {"mode": "since"}')
        try {
          return await reconciliation.run({ mode: (body as Static<typeof RunBody>).mode ?? 'all' })
        } catch (err) {
          if (err instanceof ProviderError) throw new HttpError(503, 'provider_unavailable', `the provider failed, nothing was booked and the previous report stays: ${err.message}`)
          throw err
        }
      },
    )
    scope.get('/reconciliation', { schema: { response: { 200: ReportReply, ...errorResponses } } }, async () => {
      const report = reconciliation.latest()
      if (report === undefined) throw new HttpError(404, 'no_reconciliation_report', 'no reconciliation has completed yet (POST /admin/reconciliation/run)')
      return report
    })
  }
}
