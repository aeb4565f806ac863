// The growth bench's bare route: one fastify route answering a fixed JSON body,
// served the way the gateway serves the portal, so that "the portal route
// against a bare route" measures the route's own work and nothing else. It is
// the gateway's own HTTP server (createHttpServer: the same fastify options,
// request ids, timeouts, error handlers and its one log line per request) with
// the gateway's logger at the same level, writing JSON lines to stdout as the
// gateway does, in a process of its own started the same way as the gateway.
// Before, the bare route ran with `logger: false` inside the bench's process,
// on the same event loop as autocannon, so the two routes were served
// differently and the ratio mixed that difference into the route's work.
//
// Run as a program: `node bare-route-server.js BODY_FILE [PATH]`; it prints
// `listening: http://HOST:PORT` once it listens and stops on SIGTERM.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import { createHttpServer, type HttpServer } from '../../gateway/http.js'
import { createLogger } from '../../gateway/logger.js'

/** Where the bare route is mounted and its path below that, as the portal's GET /api/customer. */
export const BARE_ROUTE_PREFIX = '/api'
export const BARE_ROUTE_PATH = '/customer'

/** The gateway's HTTP server with one extra-bare GET route answering `body` (no schema, no hooks). */
export function createBareRouteServer(logger: Logger, body: unknown): HttpServer {
  const bare: FastifyPluginAsync = async (scope) => {
    scope.get(BARE_ROUTE_PATH, async () => body)
  }
  return createHttpServer({
    logger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {
      throw new Error('the bare route server has no kiosks')
    },
    stats: () => {
      throw new Error('the bare route server has no stats')
    },
    plugins: [{ plugin: bare, prefix: BARE_ROUTE_PREFIX }],
  })
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [bodyFile] = process.argv.slice(2)
  if (bodyFile === undefined) {
    console.error('usage: node bare-route-server.js BODY_FILE')
    process.exit(2)
  }
  // The level the bench starts the gateway with (WRISTPAY_GATEWAY_LOG_LEVEL, info by default there).
  const logger = createLogger({ level: process.env.WRISTPAY_GATEWAY_LOG_LEVEL ?? 'info' })
  const server = createBareRouteServer(logger, JSON.parse(readFileSync(bodyFile, 'utf8')) as unknown)
  const { host, port } = await server.listen('127.0.0.1', 0)
  logger.info(`listening: http://${host}:${port}`)
  process.once('SIGTERM', () => {
    void server.close().then(() => process.exit(0))
  })
}
