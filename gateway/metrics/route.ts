// GET /metrics: the gateway's metrics in Prometheus' text format, for a
// Prometheus server to scrape. Guarded, because the numbers say how the event
// goes (sales, debts, which kiosks are down) and the scrape costs queries:
// - with a token (config metrics.token): `Authorization: Bearer <token>`,
//   compared in constant time, else 401 (and wrong tokens are throttled per
//   address like the admin API's);
// - without one: only this machine may ask (403 otherwise), so a Prometheus
//   on the gateway's host, or one reaching it through an SSH tunnel, works
//   without any set-up, and nobody on the festival network does.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import { isLoopbackAddress } from '../broker.js'
import { ErrorBody, HttpError, type MountedPlugin } from '../http.js'

export const METRICS_PATH = '/metrics'

export interface MetricsRouteOptions {
  registry: Registry
  /** The bearer token a scrape must present; undefined: loopback only. */
  token?: string
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest()

/** The addresses a proxy header names: X-Forwarded-For's list, Forwarded's `for=`, X-Real-IP. */
function forwardedAddresses(headers: FastifyRequest['headers']): string[] {
  const text = (name: string) => {
    const value = headers[name]
    return Array.isArray(value) ? value.join(',') : (value ?? '')
  }
  const addresses = text('x-forwarded-for').split(',')
  for (const m of text('forwarded').matchAll(/for="?\[?([^;,"\]]*)/gi)) addresses.push(m[1]!)
  addresses.push(text('x-real-ip'))
  return addresses.map((a) => a.trim()).filter((a) => a !== '')
}

/**
 * Whether a request comes from this machine: its TCP peer is a loopback
 * address, so is the client a trusted proxy names (request.ip follows
 * X-Forwarded-For only from http.trustedProxies), and so is every address a
 * proxy header names at all. The last one because the usual set-up is a TLS
 * reverse proxy on this machine: when nobody listed it in http.trustedProxies,
 * it still says whom it forwards, and a guest is not made local by it.
 */
export function fromThisMachine(request: Pick<FastifyRequest, 'ip' | 'socket' | 'headers'>): boolean {
  return isLoopbackAddress(request.socket.remoteAddress) && isLoopbackAddress(request.ip) && forwardedAddresses(request.headers).every(isLoopbackAddress)
}

/** Throws the refusal a scrape gets, or returns when it may read the metrics. */
export function checkMetricsAccess(request: Pick<FastifyRequest, 'ip' | 'socket' | 'headers'>, token: string | undefined): void {
  if (token === undefined) {
    if (!fromThisMachine(request)) throw new HttpError(403, 'metrics_local_only', 'metrics are answered to this machine only: configure metrics.token to scrape from elsewhere')
    return
  }
  const header = request.headers.authorization
  const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null
  // Both sides hashed first, so the comparison takes the same time whatever the lengths.
  if (!match || !timingSafeEqual(sha256(match[1]!), sha256(token))) {
    throw new HttpError(401, 'metrics_unauthorized', 'a valid metrics bearer token is required')
  }
}

export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  const { registry, token } = options
  app.get(
    METRICS_PATH,
    {
      schema: {
        summary: "the gateway's metrics in Prometheus' text format (README 'Metrics')",
        tags: ['operations'],
        response: { 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 500: ErrorBody },
      },
      onRequest: async (request) => checkMetricsAccess(request, token),
    },
    async (_request, reply) => {
      const text = await registry.metrics()
      return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text)
    },
  )
}

/** The route as one of the gateway's HTTP plugins, its wrong tokens throttled like the admin API's. */
export function metricsMount(options: MetricsRouteOptions): MountedPlugin {
  return { plugin: metricsRoute, prefix: '', options: { ...options }, throttleCredentials: 'metrics' }
}
