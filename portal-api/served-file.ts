// A small file served from memory to a browser (the portal page, the operator
// console): read once at start, sent with an ETag so a reload costs a 304, and
// with the headers that keep the page to itself. Only an allow-list of such
// files is ever served, so no path from a request reaches the file system.
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

export interface ServedFile {
  body: Buffer
  contentType: string
  etag: string
}

export function servedFile(body: Buffer, contentType: string): ServedFile {
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}

/** Sends `file` under the page's content security policy, or 304 when the browser has it. */
export function sendServedFile(request: FastifyRequest, reply: FastifyReply, contentSecurityPolicy: string, file: ServedFile): FastifyReply {
  reply
    .header('content-security-policy', contentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    // Receipt links carry an order's unguessable id in the query: never leak a URL to another site.
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    // Small files: revalidate every time (cheap 304s), so a new release is seen at once.
    .header('cache-control', 'no-cache')
    .header('etag', file.etag)
  const ifNoneMatch = request.headers['if-none-match']
  if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((tag) => tag.trim() === file.etag)) return reply.code(304).send()
  return reply.type(file.contentType).send(file.body)
}
