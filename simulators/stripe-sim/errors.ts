// Stripe-shaped errors: `{error: {type, code, decline_code, message, param}}`
// with the HTTP status Stripe uses (400 invalid request, 401 bad key, 402 card
// error, 404 unknown object). Handlers throw these; the server renders them.

export type StripeErrorType =
  | 'api_error'
  | 'card_error'
  | 'idempotency_error'
  | 'invalid_request_error'

export interface StripeErrorBody {
  type: StripeErrorType
  message: string
  code?: string
  decline_code?: string
  param?: string
  /** Objects Stripe attaches to card errors (the intent in its new state). */
  payment_intent?: unknown
  setup_intent?: unknown
  payment_method?: unknown
}

export class StripeSimError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: StripeErrorBody,
  ) {
    super(body.message)
    this.name = 'StripeSimError'
  }
}

export function resourceMissing(kind: string, id: string, param = 'id'): StripeSimError {
  return new StripeSimError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such ${kind}: '${id}'`,
    param,
  })
}

export function paramMissing(param: string): StripeSimError {
  return new StripeSimError(400, {
    type: 'invalid_request_error',
    code: 'parameter_missing',
    message: `Missing required param: ${param}.`,
    param,
  })
}

export function paramInvalid(param: string, message: string, code = 'parameter_invalid'): StripeSimError {
  return new StripeSimError(400, { type: 'invalid_request_error', code, message, param })
}

export function unexpectedState(kind: 'payment_intent' | 'setup_intent', message: string): StripeSimError {
  return new StripeSimError(400, {
    type: 'invalid_request_error',
    code: `${kind}_unexpected_state`,
    message,
  })
}
