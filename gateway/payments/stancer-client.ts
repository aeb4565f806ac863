// A small typed client for the payments provider's v2 API (Stancer): payment
// intents, payments, refunds, disputes, payouts and SEPA checks.
//
// - Authentication: HTTP Basic with the secret key as user and no password.
//   The key lives only in this closure and the Authorization header; the client
//   logs nothing and no error message carries it.
// - JSON in and out; money is integer cents at this API too (amounts are
//   integers in [0, 4294967295]), so no conversion. Currencies are lower case
//   here (`eur`); callers convert at their edge.
// - Every request has a timeout (AbortSignal). A timeout, a refused
//   connection, a non-2xx answer or an answer whose shape we cannot trust
//   (an id that is not `prefix_` + 24 letters or digits, a float amount, HTML
//   instead of JSON ...) is a ProviderError, never a crash: the caller treats
//   the outcome as unknown.
// - Lists are pages `{range: {start, end, limit, has_more}, <things>: [...]}`;
//   listAll() follows them with a hard bound on the number of pages.
import { ProviderError } from './provider.js'

export const STANCER_DEFAULT_BASE_URL = 'https://api.stancer.com'
export const STANCER_MAX_AMOUNT = 4294967295
/** The largest page the API serves. */
export const STANCER_MAX_LIMIT = 100
const MAX_BODY_BYTES = 1024 * 1024
const CURRENCY = /^[a-z]{3}$/
/** Statuses and other enum-like fields: short lower-case words; anything else is not trusted. */
const WORD = /^[a-z][a-z_]{0,39}$/

export type StancerIdPrefix = 'pi' | 'paym' | 'refd' | 'dspt' | 'pout' | 'cust' | 'chck' | 'card' | 'sepa'

export function stancerIdPattern(prefix: StancerIdPrefix): RegExp {
  return new RegExp(`^${prefix}_[a-zA-Z0-9]{24}$`)
}

export function isStancerId(prefix: StancerIdPrefix, value: unknown): value is string {
  return typeof value === 'string' && stancerIdPattern(prefix).test(value)
}

// --- the API's objects, as far as wristpay reads them (the API's own field names)

export interface StancerPaymentIntent {
  id: string
  payment: string | null
  order_id: string | null
  /** Integer cents. */
  amount: number
  currency: string
  description: string | null
  status: string
  return_url: string | null
  /** The hosted payment page the guest's browser opens (checked by the caller). */
  url: string | null
}

export interface StancerPayment {
  id: string
  /** Integer cents. */
  amount: number
  currency: string
  status: string
  order_id: string | null
  /** The provider's fee, integer cents (null when the answer has none). */
  fee: number | null
  /** The card network's answer code (`00` approved). */
  response: string | null
  created: number | null
}

export interface StancerRefund {
  id: string
  payment: string
  /** Integer cents. */
  amount: number
  currency: string
  status: string
  created: number | null
}

export interface StancerDispute {
  id: string
  payment: string
  /** Integer cents. */
  amount: number
  currency: string
  order_id: string | null
  /** The card network's reason code. */
  response: string | null
  type: string | null
  created: number | null
  /** Not in the seed; the simulator (and maybe the provider) says open, won or lost. */
  status: string | null
}

export interface StancerPayoutTotal {
  /** Integer cents. */
  amount: number
  count: number
}

export interface StancerPayout {
  id: string
  currency: string
  payments: StancerPayoutTotal
  refunds: StancerPayoutTotal
  disputes: StancerPayoutTotal
  /** Integer cents. */
  fees: number
  fees_vat: number
  status: string
  date: string | null
}

export interface StancerSepaCheck {
  id: string
  status: string
  check_type: string | null
  /** 0..1 (1: the name matches the account holder); null while pending. */
  person: { name: string; score_name: number | null } | null
  company: { name: string; score_name: number | null } | null
  created: number | null
}

export interface StancerRange {
  start: number
  end: number
  limit: number
  has_more: boolean
}

export interface StancerPage<T> {
  range: StancerRange
  items: T[]
}

export interface PageQuery {
  start?: number
  limit?: number
}

export interface CreatePaymentIntentInput {
  /** Integer cents. */
  amount: number
  /** Lower case, e.g. `eur`. */
  currency: string
  order_id?: string
  return_url?: string
  /** 3..64 characters. */
  description?: string
  methods_allowed?: Array<'card' | 'sepa'>
  threeds?: 'required' | 'none'
  capture?: boolean
  customer?: string
  metadata?: unknown
}

export interface CreateSepaCheckInput {
  iban: string
  person?: { name: string; date_birth?: string }
  company?: { name: string; siren?: string; siret?: string; vat?: string; country?: string }
}

export interface StancerClientOptions {
  /** The account's secret key; never logged. */
  secretKey: string
  /** The API's origin (the simulator's URL in tests and the demo); paths start with /v2/. */
  baseUrl?: string
  /** Per request. Default 15 s. */
  timeoutMs?: number
  fetch?: typeof globalThis.fetch
}

export interface StancerClient {
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<StancerPaymentIntent>
  getPaymentIntent(id: string): Promise<StancerPaymentIntent>
  getPayment(id: string): Promise<StancerPayment>
  /** Refunds `amount` cents of the payment (the whole refundable rest without an amount). */
  createRefund(input: { payment: string; amount?: number }): Promise<StancerRefund>
  getRefund(id: string): Promise<StancerRefund>
  /** Every refund of a payment (the API answers one list, not pages). */
  listPaymentRefunds(paymentId: string): Promise<StancerRefund[]>
  /** Disputes, oldest first; `created`: only those created at or after these Unix seconds. */
  listDisputes(query?: PageQuery & { created?: number }): Promise<StancerPage<StancerDispute>>
  getDispute(id: string): Promise<StancerDispute>
  /** Payouts; `created`: an ISO date-time, only those created at or after it. */
  listPayouts(query?: PageQuery & { created?: string; payment?: string }): Promise<StancerPage<StancerPayout>>
  getPayout(id: string): Promise<StancerPayout>
  listPayoutPayments(payoutId: string, query?: PageQuery): Promise<StancerPage<StancerPayment>>
  listPayoutRefunds(payoutId: string, query?: PageQuery): Promise<StancerPage<StancerRefund>>
  listPayoutDisputes(payoutId: string, query?: PageQuery): Promise<StancerPage<StancerDispute>>
  /** Starts a SEPA check; the answer is only its id (read the result with getSepaCheck). */
  createSepaCheck(input: CreateSepaCheckInput): Promise<{ id: string }>
  getSepaCheck(id: string): Promise<StancerSepaCheck>
}

/**
 * Every item of a list, page after page (`start` moves on by what each page
 * held). More than `maxPages` pages, or a page that says there is more but
 * holds nothing, is a ProviderError: a provider that never stops must not
 * keep us looping.
 */
export async function listAll<T>(
  fetchPage: (query: { start: number; limit: number }) => Promise<StancerPage<T>>,
  options: { limit?: number; maxPages?: number } = {},
): Promise<T[]> {
  const limit = options.limit ?? STANCER_MAX_LIMIT
  const maxPages = options.maxPages ?? 100
  if (!Number.isInteger(limit) || limit < 1 || limit > STANCER_MAX_LIMIT) throw new RangeError(`limit must be 1..${STANCER_MAX_LIMIT}`)
  if (!Number.isInteger(maxPages) || maxPages < 1) throw new RangeError('maxPages must be a positive integer')
  const all: T[] = []
  let start = 0
  for (let page = 0; page < maxPages; page += 1) {
    const { range, items } = await fetchPage({ start, limit })
    all.push(...items)
    if (!range.has_more) return all
    if (items.length === 0) throw new ProviderError('stancer list says it has more but sent an empty page')
    start += items.length
  }
  throw new ProviderError(`stancer list has more than ${maxPages} pages`)
}

// --- shape checks: each returns the checked value or throws ProviderError

type Json = Record<string, unknown>

function untrusted(what: string): ProviderError {
  return new ProviderError(`stancer answered with an unusable ${what}`)
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function record(value: unknown, what: string): Json {
  if (!isRecord(value)) throw untrusted(what)
  return value
}

function id(value: unknown, prefix: StancerIdPrefix, what: string): string {
  if (!isStancerId(prefix, value)) throw untrusted(`${what} id`)
  return value
}

function optId(value: unknown, prefix: StancerIdPrefix, what: string): string | null {
  return value === undefined || value === null ? null : id(value, prefix, what)
}

function amount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > STANCER_MAX_AMOUNT) throw untrusted(`${what} amount`)
  return value
}

function optAmount(value: unknown, what: string): number | null {
  return value === undefined || value === null ? null : amount(value, what)
}

function currency(value: unknown, what: string): string {
  // The seed's samples show `str` as a placeholder where the simulator says `eur`: any three letters.
  if (typeof value !== 'string' || !CURRENCY.test(value.toLowerCase())) throw untrusted(`${what} currency`)
  return value.toLowerCase()
}

function word(value: unknown, what: string): string {
  if (typeof value !== 'string' || !WORD.test(value)) throw untrusted(what)
  return value
}

function optWord(value: unknown, what: string): string | null {
  return value === undefined || value === null ? null : word(value, what)
}

function optText(value: unknown, what: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value.length > maxLength) throw untrusted(what)
  return value
}

/** Unix seconds; the seed shows them as numbers and as digit strings. */
function optSeconds(value: unknown, what: string): number | null {
  if (value === undefined || value === null) return null
  const n = typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw untrusted(what)
  return n
}

export function parsePaymentIntent(value: unknown): StancerPaymentIntent {
  const o = record(value, 'payment intent')
  return {
    id: id(o.id, 'pi', 'payment intent'),
    payment: optId(o.payment, 'paym', 'payment intent payment'),
    order_id: optText(o.order_id, 'payment intent order_id', 36),
    amount: amount(o.amount, 'payment intent'),
    currency: currency(o.currency, 'payment intent'),
    description: optText(o.description, 'payment intent description', 64),
    status: word(o.status, 'payment intent status'),
    return_url: optText(o.return_url, 'payment intent return_url', 65536),
    url: optText(o.url, 'payment intent url', 2048),
  }
}

export function parsePayment(value: unknown): StancerPayment {
  const o = record(value, 'payment')
  return {
    id: id(o.id, 'paym', 'payment'),
    amount: amount(o.amount, 'payment'),
    currency: currency(o.currency, 'payment'),
    status: word(o.status, 'payment status'),
    order_id: optText(o.order_id, 'payment order_id', 36),
    fee: optAmount(o.fee, 'payment fee'),
    response: optText(o.response, 'payment response', 8),
    created: optSeconds(o.created, 'payment created'),
  }
}

export function parseRefund(value: unknown): StancerRefund {
  const o = record(value, 'refund')
  return {
    id: id(o.id, 'refd', 'refund'),
    payment: id(o.payment, 'paym', 'refund payment'),
    amount: amount(o.amount, 'refund'),
    currency: currency(o.currency, 'refund'),
    status: word(o.status, 'refund status'),
    created: optSeconds(o.created, 'refund created'),
  }
}

export function parseDispute(value: unknown): StancerDispute {
  const o = record(value, 'dispute')
  return {
    id: id(o.id, 'dspt', 'dispute'),
    payment: id(o.payment, 'paym', 'dispute payment'),
    amount: amount(o.amount, 'dispute'),
    currency: currency(o.currency, 'dispute'),
    order_id: optText(o.order_id, 'dispute order_id', 36),
    response: optText(o.response, 'dispute response', 16),
    type: optText(o.type, 'dispute type', 64),
    created: optSeconds(o.created, 'dispute created'),
    status: optWord(o.status, 'dispute status'),
  }
}

function payoutTotal(value: unknown, what: string): StancerPayoutTotal {
  const o = record(value, `payout ${what}`)
  if (typeof o.count !== 'number' || !Number.isSafeInteger(o.count) || o.count < 0) throw untrusted(`payout ${what} count`)
  return { amount: amount(o.amount, `payout ${what}`), count: o.count }
}

export function parsePayout(value: unknown): StancerPayout {
  const o = record(value, 'payout')
  return {
    id: id(o.id, 'pout', 'payout'),
    currency: currency(o.currency, 'payout'),
    payments: payoutTotal(o.payments, 'payments'),
    refunds: payoutTotal(o.refunds, 'refunds'),
    disputes: payoutTotal(o.disputes, 'disputes'),
    fees: amount(o.fees, 'payout fees'),
    fees_vat: amount(o.fees_vat, 'payout fees_vat'),
    status: word(o.status, 'payout status'),
    date: optText(o.date, 'payout date', 32),
  }
}

function checkHolder(value: unknown, what: string): { name: string; score_name: number | null } | null {
  if (value === undefined || value === null) return null
  const o = record(value, what)
  const name = optText(o.name, `${what} name`, 64)
  const score = o.score_name
  if (name === null) throw untrusted(`${what} name`)
  if (score !== null && score !== undefined && (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1)) throw untrusted(`${what} score`)
  return { name, score_name: typeof score === 'number' ? score : null }
}

export function parseSepaCheck(value: unknown): StancerSepaCheck {
  const o = record(value, 'sepa check')
  return {
    id: id(o.id, 'chck', 'sepa check'),
    status: word(o.status, 'sepa check status'),
    check_type: optWord(o.check_type, 'sepa check type'),
    person: checkHolder(o.person, 'sepa check person'),
    company: checkHolder(o.company, 'sepa check company'),
    created: optSeconds(o.created, 'sepa check created'),
  }
}

function parsePage<T>(value: unknown, key: string, parseItem: (item: unknown) => T): StancerPage<T> {
  const o = record(value, `${key} list`)
  const range = record(o.range, `${key} list range`)
  const ints = ['start', 'end', 'limit'].map((k) => range[k])
  if (ints.some((n) => typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) || typeof range.has_more !== 'boolean') throw untrusted(`${key} list range`)
  const items = o[key]
  if (!Array.isArray(items) || items.length > STANCER_MAX_LIMIT) throw untrusted(`${key} list`)
  return {
    range: { start: range.start as number, end: range.end as number, limit: range.limit as number, has_more: range.has_more },
    items: items.map(parseItem),
  }
}

function checkedId(prefix: StancerIdPrefix, value: string): string {
  // Never let a caller's string become a path of its own choosing.
  if (!isStancerId(prefix, value)) throw new RangeError(`not a ${prefix}_ id`)
  return value
}

function pageQuery(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value))
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

function checkPageQuery(query: PageQuery): void {
  if (query.start !== undefined && (!Number.isSafeInteger(query.start) || query.start < 0)) throw new RangeError('start must be a whole number ≥ 0')
  if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > STANCER_MAX_LIMIT)) throw new RangeError(`limit must be 1..${STANCER_MAX_LIMIT}`)
}

export function createStancerClient(options: StancerClientOptions): StancerClient {
  if (typeof options.secretKey !== 'string' || options.secretKey.length < 8 || /[\s:]/.test(options.secretKey)) {
    throw new Error('stancer secretKey must be the account\'s secret key (at least 8 characters, no spaces or colons)')
  }
  const base = new URL(options.baseUrl ?? STANCER_DEFAULT_BASE_URL)
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('stancer baseUrl must be http(s)')
  if (base.pathname !== '/' || base.search !== '' || base.username !== '' || base.password !== '') {
    throw new Error('stancer baseUrl must be a bare origin such as https://api.stancer.com (the client adds /v2/...)')
  }
  const origin = base.origin
  const timeoutMs = options.timeoutMs ?? 15_000
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) throw new RangeError('timeoutMs must be a positive number')
  const doFetch = options.fetch ?? globalThis.fetch
  const authorization = `Basic ${Buffer.from(`${options.secretKey}:`).toString('base64')}`

  /** What a request is called in error messages: method and path without ids or query. */
  function label(method: string, path: string): string {
    return `${method} ${path.split('?')[0]!.replace(/\/[a-z]+_[A-Za-z0-9]{24}/g, '/{id}')}`
  }

  /** The body as text, read no further than MAX_BODY_BYTES: an endless answer must not fill our memory. */
  async function readBody(res: Response, what: string): Promise<string> {
    const tooLarge = () => new ProviderError(`stancer ${what}: answer too large`, res.status)
    if (Number(res.headers.get('content-length') ?? '0') > MAX_BODY_BYTES) {
      await res.body?.cancel()
      throw tooLarge()
    }
    if (res.body === null) return ''
    const reader = res.body.getReader()
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > MAX_BODY_BYTES) {
        await reader.cancel()
        throw tooLarge()
      }
      chunks.push(value)
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const what = label(method, path)
    let res: Response
    let text: string
    try {
      res = await doFetch(origin + path, {
        method,
        headers: {
          authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      })
      text = await readBody(res, what)
    } catch (err) {
      if (err instanceof ProviderError) throw err
      // Timeout, refused connection, a body cut off: the outcome at the provider is unknown.
      const name = (err as Error)?.name === 'TimeoutError' ? 'timed out' : `failed (${String((err as Error)?.name ?? 'error').slice(0, 40)})`
      throw new ProviderError(`stancer ${what} ${name}`)
    }
    let parsed: unknown
    let json = true
    try {
      parsed = JSON.parse(text)
    } catch {
      json = false
    }
    if (!res.ok) {
      // The provider's error body is {error: "..."}; its words go into our message, shortened, never the request.
      const reason = json && isRecord(parsed) && typeof parsed.error === 'string' ? `: ${parsed.error.replace(/[^\x20-\x7e]/g, '?').slice(0, 160)}` : ''
      throw new ProviderError(`stancer ${what} answered ${res.status}${reason}`, res.status)
    }
    if (!json) throw new ProviderError(`stancer ${what} answered with a body that is not JSON`, res.status)
    return parsed
  }

  /** The object the API answers, checked to be the one asked for. */
  async function getOne<T extends { id: string }>(path: string, expectedId: string, parse: (value: unknown) => T): Promise<T> {
    const found = parse(await call('GET', path))
    if (found.id !== expectedId) throw new ProviderError(`stancer ${label('GET', path)} answered with another object`)
    return found
  }

  async function getPage<T>(path: string, query: Record<string, string | number | undefined>, key: string, parseItem: (item: unknown) => T): Promise<StancerPage<T>> {
    checkPageQuery(query as PageQuery)
    return parsePage(await call('GET', path + pageQuery(query)), key, parseItem)
  }

  return {
    async createPaymentIntent(input) {
      if (!Number.isSafeInteger(input.amount) || input.amount < 0 || input.amount > STANCER_MAX_AMOUNT) throw new RangeError('amount must be integer cents')
      if (!CURRENCY.test(input.currency)) throw new RangeError('currency must be three lower-case letters')
      if (input.description !== undefined && (input.description.length < 3 || input.description.length > 64)) throw new RangeError('description must be 3..64 characters')
      if (input.order_id !== undefined && (input.order_id.length < 1 || input.order_id.length > 36)) throw new RangeError('order_id must be 1..36 characters')
      return parsePaymentIntent(await call('POST', '/v2/payment_intents', input))
    },
    getPaymentIntent: (intentId) => getOne(`/v2/payment_intents/${checkedId('pi', intentId)}`, intentId, parsePaymentIntent),
    getPayment: (paymentId) => getOne(`/v2/payments/${checkedId('paym', paymentId)}`, paymentId, parsePayment),
    async createRefund(input) {
      checkedId('paym', input.payment)
      if (input.amount !== undefined && (!Number.isSafeInteger(input.amount) || input.amount < 1 || input.amount > STANCER_MAX_AMOUNT)) {
        throw new RangeError('amount must be integer cents above zero')
      }
      const refund = parseRefund(await call('POST', '/v2/refunds', input.amount === undefined ? { payment: input.payment } : { payment: input.payment, amount: input.amount }))
      if (refund.payment !== input.payment || (input.amount !== undefined && refund.amount !== input.amount)) {
        throw new ProviderError('stancer made a refund that differs from the request (payment or amount)')
      }
      return refund
    },
    getRefund: (refundId) => getOne(`/v2/refunds/${checkedId('refd', refundId)}`, refundId, parseRefund),
    async listPaymentRefunds(paymentId) {
      const answer = await call('GET', `/v2/payments/${checkedId('paym', paymentId)}/refunds`)
      // Not paged: a payment with more refunds than this is not something a festival makes.
      if (!Array.isArray(answer) || answer.length > 1000) throw untrusted('payment refunds list')
      const refunds = answer.map(parseRefund)
      if (refunds.some((r) => r.payment !== paymentId)) throw new ProviderError('stancer listed a refund of another payment')
      return refunds
    },
    listDisputes(query = {}) {
      if (query.created !== undefined && (!Number.isSafeInteger(query.created) || query.created < 0)) throw new RangeError('created must be Unix seconds')
      return getPage('/v2/disputes', { created: query.created, start: query.start, limit: query.limit }, 'disputes', parseDispute)
    },
    getDispute: (disputeId) => getOne(`/v2/disputes/${checkedId('dspt', disputeId)}`, disputeId, parseDispute),
    listPayouts(query = {}) {
      if (query.created !== undefined && Number.isNaN(Date.parse(query.created))) throw new RangeError('created must be an ISO date-time')
      if (query.payment !== undefined) checkedId('paym', query.payment)
      return getPage('/v2/payouts', { created: query.created, payment: query.payment, start: query.start, limit: query.limit }, 'payouts', parsePayout)
    },
    getPayout: (payoutId) => getOne(`/v2/payouts/${checkedId('pout', payoutId)}`, payoutId, parsePayout),
    listPayoutPayments: (payoutId, query = {}) =>
      getPage(`/v2/payouts/${checkedId('pout', payoutId)}/payments`, { start: query.start, limit: query.limit }, 'payments', parsePayment),
    listPayoutRefunds: (payoutId, query = {}) =>
      getPage(`/v2/payouts/${checkedId('pout', payoutId)}/refunds`, { start: query.start, limit: query.limit }, 'refunds', parseRefund),
    listPayoutDisputes: (payoutId, query = {}) =>
      getPage(`/v2/payouts/${checkedId('pout', payoutId)}/disputes`, { start: query.start, limit: query.limit }, 'disputes', parseDispute),
    async createSepaCheck(input) {
      if (typeof input.iban !== 'string' || input.iban.length < 12 || input.iban.length > 34) throw new RangeError('iban must be 12..34 characters')
      if ((input.person === undefined) === (input.company === undefined)) throw new RangeError('give either person or company')
      const o = record(await call('POST', '/v2/sepa_check', input), 'sepa check')
      return { id: id(o.id, 'chck', 'sepa check') }
    },
    getSepaCheck: (checkId) => getOne(`/v2/sepa_check/${checkedId('chck', checkId)}`, checkId, parseSepaCheck),
  }
}
