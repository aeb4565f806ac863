// The customer portal API: a fastify plugin the gateway mounts, and the
// data-access interface the gateway implements for it.
export * from './backend.js'
export * from './plugin.js'
export * from './pin-attempts.js'
export { sendServedFile, servedFile, type ServedFile } from './served-file.js'
export { checkCustomerInfo, type CustomerInfoInput, type FieldProblem } from './customer-info.js'
export { createPortalTokens, type PortalTokens } from './tokens.js'
export { uidAsInteger } from './views.js'
