// The gateway's request log: one line per request, written when it is answered.
// fastify's default writes two ("incoming request", then "request completed");
// at portal polling rates those lines were a good part of a request's CPU
// (the profile of GET /api/customer in README "Performance"). The one line
// keeps what operators look for: method, URL (query values redacted by the
// HTTP server's request serializer), host and remote address and port (`req`),
// status (`res`), response time in ms and the request id (`reqId`). Errors and
// fastify's other log lines (error handler, stream errors) are unchanged.
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'

export class OneLinePerRequestLog extends LogController {
  /**
   * Writes the line of a request answered without error. Its fields are only the ones above (`req` from the
   * server's request serializer: no headers, no body, query values redacted; `res` the status alone), so the
   * logger's redaction paths, which cost more than the rest of the line, are not applied to it; a line with an
   * error keeps them.
   */
  private readonly completed: FastifyBaseLogger

  /** `logger`: the HTTP server's logger, with its request serializer. */
  constructor(logger: FastifyBaseLogger) {
    super()
    this.completed = logger.child({}, { redact: [] } as never)
  }

  /** Nothing on arrival: the line written on completion carries the request too. */
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else this.completed.info({ [this.requestIdLogLabel]: request.id, req: request, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed')
  }
}
