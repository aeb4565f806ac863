// Talking to the kiosk daemon's local API on the same origin: one JSON request
// with a time limit, and its errors as ApiError `{status, type, message, id}`
// (the API's `{type, id, message}`; `network` and `timeout` when there was no
// answer).

export const STATE_TIMEOUT_MS = 3000
/** An operation waits for a tap and the gateway (about 15 s at most); after this the page gives up on the request. */
export const OPERATION_TIMEOUT_MS = 90_000

export class ApiError extends Error {
  constructor(status, type, message, id) {
    super(message)
    this.status = status
    this.type = type
    this.id = id
  }
}

/** Anything thrown, as an ApiError (a bug in the page becomes `internal`). */
export const asApiError = (err) => (err instanceof ApiError ? err : new ApiError(0, 'internal', String(err), ''))

export async function api(method, path, body, timeoutMs) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  let response
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: controller.signal,
    })
  } catch {
    clearTimeout(timer)
    if (controller.signal.aborted) throw new ApiError(0, 'timeout', 'no answer from the kiosk service in time', '')
    throw new ApiError(0, 'network', 'the kiosk service cannot be reached', '')
  }
  let data = null
  try {
    const text = await response.text()
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  } finally {
    clearTimeout(timer)
  }
  if (!response.ok) {
    const type = typeof data?.type === 'string' ? data.type : `http_${response.status}`
    const message = typeof data?.message === 'string' ? data.message : `HTTP ${response.status}`
    throw new ApiError(response.status, type, message, typeof data?.id === 'string' ? data.id : '')
  }
  return { status: response.status, data }
}
