// /v1/customers: create, retrieve, update, delete, list (by email).
import { resourceMissing } from './errors.js'
import { applyMetadata, optNullableString, optObject, optString, rejectUnknown, type Params } from './params.js'
import { attachPaymentMethod, checkAttachable, resolvePaymentMethod } from './payment-methods.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type Customer, type SimContext } from './state.js'

const WRITABLE = ['address', 'description', 'email', 'metadata', 'name', 'phone', 'preferred_locales', 'shipping', 'invoice_settings', 'expand']

export function getCustomer(ctx: SimContext, id: string, param = 'id'): Customer {
  const customer = ctx.state.customers.get(id)
  if (!customer) throw resourceMissing('customer', id, param)
  return customer
}

function applyWritable(ctx: SimContext, customer: Customer, params: Params): void {
  const email = optNullableString(params, 'email', 512)
  if (email !== undefined) customer.email = email
  const name = optNullableString(params, 'name', 256)
  if (name !== undefined) customer.name = name
  const phone = optNullableString(params, 'phone', 20)
  if (phone !== undefined) customer.phone = phone
  const description = optNullableString(params, 'description', 350)
  if (description !== undefined) customer.description = description
  customer.metadata = applyMetadata(customer.metadata, params)
  const address = optObject(params, 'address')
  if (address) customer.address = { city: null, country: null, line1: null, line2: null, postal_code: null, state: null, ...address }
  const invoiceSettings = optObject(params, 'invoice_settings')
  if (invoiceSettings) {
    rejectUnknown(invoiceSettings, ['default_payment_method', 'custom_fields', 'footer', 'rendering_options'], 'invoice_settings')
    const pmId = optNullableString(invoiceSettings, 'default_payment_method')
    if (pmId) {
      const pm = ctx.state.paymentMethods.get(pmId)
      if (!pm || pm.customer !== customer.id) {
        throw resourceMissing('PaymentMethod', pmId, 'invoice_settings[default_payment_method]')
      }
    }
    if (pmId !== undefined) customer.invoice_settings.default_payment_method = pmId
  }
}

export const customerRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/customers',
    handle(ctx, { params }) {
      rejectUnknown(params, [...WRITABLE, 'payment_method', 'balance', 'tax_exempt'])
      const customer: Customer = {
        id: newId('cus', 14),
        object: 'customer',
        address: null,
        balance: 0,
        created: ctx.nowSeconds(),
        currency: null,
        default_source: null,
        delinquent: false,
        description: null,
        discount: null,
        email: null,
        invoice_prefix: newId('', 8).slice(1).toUpperCase(),
        invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
        livemode: false,
        metadata: {},
        name: null,
        phone: null,
        preferred_locales: [],
        shipping: null,
        tax_exempt: 'none',
        test_clock: null,
      }
      // Validate everything before the customer is stored: a refused request creates nothing.
      applyWritable(ctx, customer, params)
      const pmParam = optString(params, 'payment_method')
      const pm = pmParam === undefined ? undefined : resolvePaymentMethod(ctx, pmParam, 'payment_method')
      if (pm) checkAttachable(ctx, pm, customer)
      ctx.state.customers.set(customer.id, customer)
      if (pm) attachPaymentMethod(ctx, pm, customer)
      ctx.emit('customer.created', customer)
      return withExpand(ctx, customer, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/customers/:id',
    handle(ctx, { params, pathParams }) {
      const id = pathParams.id as string
      // Stripe still answers for a deleted customer, with a stub that says so.
      if (ctx.state.deletedCustomers.has(id)) return { id, object: 'customer', deleted: true }
      return withExpand(ctx, getCustomer(ctx, id), params)
    },
  },
  {
    method: 'POST',
    path: '/v1/customers/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, WRITABLE)
      const customer = getCustomer(ctx, pathParams.id as string)
      const draft = structuredClone(customer)
      applyWritable(ctx, draft, params) // all-or-nothing: a bad field leaves the customer as it was
      Object.assign(customer, draft)
      ctx.emit('customer.updated', customer)
      return withExpand(ctx, customer, params)
    },
  },
  {
    method: 'DELETE',
    path: '/v1/customers/:id',
    handle(ctx, { pathParams }) {
      const customer = getCustomer(ctx, pathParams.id as string)
      ctx.state.customers.delete(customer.id)
      ctx.state.deletedCustomers.add(customer.id)
      for (const pm of ctx.state.paymentMethods.values()) {
        if (pm.customer === customer.id) pm.customer = null
      }
      ctx.emit('customer.deleted', customer)
      return { id: customer.id, object: 'customer', deleted: true }
    },
  },
  {
    method: 'GET',
    path: '/v1/customers',
    handle(ctx, { params }) {
      rejectUnknown(params, ['email', 'limit', 'starting_after', 'ending_before', 'expand', 'created', 'test_clock'])
      const email = optString(params, 'email', 512)
      const all = [...ctx.state.customers.values()].filter((c) => email === undefined || c.email === email)
      return paginate(all, params, '/v1/customers')
    },
  },
]
