// The gateway's own commands (payout, bank import) talk to the running
// gateway's HTTP APIs as JSON: one small client for them, and one transport
// type their tests replace with app.inject.

/** One JSON request and its answer; the answer's body is JSON, or `{message}` with the start of a non-JSON body. */
export type JsonTransport = (request: { method: 'GET' | 'POST'; path: string; body?: unknown }) => Promise<{ status: number; json: unknown }>

/** A transport over real HTTP: `path` is resolved against `baseUrl`, `headers` go with every request. */
export function jsonHttpTransport(baseUrl: string, headers: Record<string, string>, timeoutMs: number): JsonTransport {
  return async ({ method, path, body }) => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { ...headers, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = { message: text.slice(0, 200) }
    }
    return { status: response.status, json }
  }
}
