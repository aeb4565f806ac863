// JSON request bodies as the clients of the two seed APIs send them. Their
// documents' own samples (curl, Python requests) send `Content-Type:
// application/json` with no body at all, and the reference servers read that
// as "no fields"; fastify's default parser answers 400 FST_ERR_CTP_EMPTY_JSON_BODY.
// Installed in one plugin's scope only (fastify encapsulates parsers), so the
// other APIs of the gateway keep their strict parser.
import type { FastifyInstance } from 'fastify'

export interface EmptyJsonBodyOptions {
  /**
   * Also read a body of exactly `[]` as no fields: PHP's json_encode(array())
   * gives `[]`, and the card-terminal document's PHP samples send that for an
   * empty request body.
   */
  emptyArrayAsObject?: boolean
}

/** An empty (or whitespace-only) JSON body parses as `{}`; anything else goes to fastify's own JSON parser. */
export function acceptEmptyJsonBody(scope: FastifyInstance, options: EmptyJsonBodyOptions = {}): void {
  // The default parser keeps refusing __proto__ and constructor.prototype keys.
  const strictParser = scope.getDefaultJsonParser('error', 'error')
  scope.removeContentTypeParser('application/json')
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = (body as string).trim()
    if (text === '' || (options.emptyArrayAsObject === true && text === '[]')) {
      done(null, {})
      return
    }
    strictParser(request, body as string, done)
  })
}
