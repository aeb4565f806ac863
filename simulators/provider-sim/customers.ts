// Customers: create, retrieve, update, delete, list (filters created,
// external_id, email, name, country, legal_id). `external_id` is unique.
import { badRequest, conflict } from './errors.js'
import { byId, createdSince, paginate, type Route } from './route.js'
import type { Customer, SimContext } from './state.js'
import { bodyFields, checkQuery, optDate, optString, type Fields } from './validate.js'

const FIELDS = ['email', 'name', 'mobile', 'date_birth', 'legal_id', 'country', 'external_id'] as const

function readFields(fields: Fields): Partial<Customer> {
  const email = optString(fields, 'email', 3, 64)
  if (email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(email)) throw badRequest('email must be an email address')
  return {
    email,
    name: optString(fields, 'name', 0, 64),
    mobile: optString(fields, 'mobile', 1, 16),
    date_birth: optDate(fields, 'date_birth'),
    legal_id: optString(fields, 'legal_id', 1, 16),
    country: optString(fields, 'country', 2, 2),
    external_id: optString(fields, 'external_id', 1, 36),
  }
}

function checkExternalIdFree(ctx: SimContext, externalId: string | null | undefined, except?: string): void {
  if (externalId === undefined || externalId === null) return
  for (const c of ctx.state.customers.values()) {
    if (c.external_id === externalId && c.id !== except && !c.deleted) throw conflict(`A customer with external_id ${externalId} exists already`)
  }
}

export function getCustomer(ctx: SimContext, id: string | undefined): Customer {
  return byId(ctx.state.customers, 'cust', 'customer', id)
}

export const customerRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v2/customers',
    handle(ctx, { body }) {
      const read = readFields(bodyFields(body, FIELDS))
      checkExternalIdFree(ctx, read.external_id)
      const customer: Customer = {
        id: ctx.newId('cust'),
        country: read.country ?? null,
        created: ctx.nowSeconds(),
        date_birth: read.date_birth ?? null,
        email: read.email ?? null,
        external_id: read.external_id ?? null,
        legal_id: read.legal_id ?? null,
        mobile: read.mobile ?? null,
        name: read.name ?? null,
        deleted: false,
      }
      ctx.state.customers.set(customer.id, customer)
      return customer
    },
  },
  {
    method: 'GET',
    path: '/v2/customers',
    handle(ctx, { query }) {
      checkQuery(query, ['created', 'external_id', 'email', 'name', 'country', 'legal_id'])
      const since = createdSince(query)
      const items = [...ctx.state.customers.values()].filter(
        (c) =>
          !c.deleted &&
          (since === undefined || c.created >= since) &&
          (['external_id', 'email', 'name', 'country', 'legal_id'] as const).every((k) => query[k] === undefined || c[k] === query[k]),
      )
      return paginate(items, query, 'customers')
    },
  },
  { method: 'GET', path: '/v2/customers/:id', handle: (ctx, { params }) => getCustomer(ctx, params.id) },
  {
    method: 'PATCH',
    path: '/v2/customers/:id',
    handle(ctx, { params, body }) {
      const customer = getCustomer(ctx, params.id)
      const read = readFields(bodyFields(body, FIELDS))
      checkExternalIdFree(ctx, read.external_id, customer.id)
      for (const key of FIELDS) {
        const value = read[key]
        if (value !== undefined) customer[key] = value
      }
      return customer
    },
  },
  {
    method: 'DELETE',
    path: '/v2/customers/:id',
    handle(ctx, { params }) {
      const customer = getCustomer(ctx, params.id)
      customer.deleted = true
      return customer
    },
  },
]
