// /v1/events: retrieve and list (by type), so a receiver can check a webhook
// against the API, as Stripe recommends for extra safety.
import { resourceMissing } from './errors.js'
import { optString, rejectUnknown } from './params.js'
import { paginate, type Route } from './route.js'

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/events/:id',
    handle(ctx, { pathParams }) {
      const event = ctx.state.events.get(pathParams.id as string)
      if (!event) throw resourceMissing('event', pathParams.id as string)
      return event
    },
  },
  {
    method: 'GET',
    path: '/v1/events',
    handle(ctx, { params }) {
      rejectUnknown(params, ['type', 'types', 'limit', 'starting_after', 'ending_before', 'created', 'delivery_success'])
      const type = optString(params, 'type')
      const all = [...ctx.state.events.values()].filter((e) => type === undefined || e.type === type)
      return paginate(all, params, '/v1/events')
    },
  },
]
