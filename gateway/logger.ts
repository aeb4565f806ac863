// The gateway's pino logger. Modules never create loggers themselves: they get
// this one (or a child) passed in. Redaction is a second line of defence; the
// first is not putting secrets into log objects at all.
import { pino, type DestinationStream, type Logger } from 'pino'

export const REDACTED_PATHS = [
  'password',
  'token',
  'adminToken',
  'pin',
  '*.password',
  '*.token',
  '*.adminToken',
  '*.pin',
  'req.headers.authorization',
  'config.operators',
  'iban',
  '*.iban',
  'access_token',
  '*.access_token',
  'apiKey',
  '*.apiKey',
  'secretKey',
  '*.secretKey',
  'webhookSecret',
  '*.webhookSecret',
  'config.payments',
]

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'wristpay-gateway' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination(1),
  )
}
