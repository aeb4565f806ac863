export { createRegistry, type ImportSummary, type Registry, type RegistryDeps } from './registry.js'
export { PIN_ALPHABET, PIN_PATTERN, MIN_PIN_LENGTH, MAX_PIN_LENGTH, normalisePin, randomPin } from './pins.js'
export { hashToken, tokenMatches } from './secrets.js'
