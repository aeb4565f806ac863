// What `wristpay-kiosk enroll` received from the gateway, kept in the data
// folder as enrollment.json (0600: it holds the MQTT token): the kiosk's id,
// the broker's URL, the token and the gateway's blocklist key. loadConfig
// (config.ts) reads it as the lowest layer above the defaults, so a kiosk
// enrolled by code starts without more settings, and anything set in the
// config file, the environment or on the command line still wins.
import { chmodSync, closeSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import Type, { type Static } from 'typebox'
import { KioskId, createValidator } from '../device-protocol/index.js'

export const ENROLLMENT_FILE_NAME = 'enrollment.json'

export const EnrollmentFile = Type.Object(
  {
    kioskId: KioskId,
    mqttUrl: Type.String({ pattern: '^(mqtts?|wss?)://[^\\s]+$', maxLength: 2048 }),
    /** The MQTT password the gateway handed out. A secret. */
    token: Type.String({ minLength: 1, maxLength: 512 }),
    gatewayKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    /** The gateway's HTTP address the code was spent at. */
    gateway: Type.String({ maxLength: 2048 }),
    /** Unix ms. */
    enrolledAt: Type.Integer(),
  },
  { additionalProperties: true },
)
export type EnrollmentFile = Static<typeof EnrollmentFile>
const validateEnrollmentFile = createValidator(EnrollmentFile)

export class EnrollmentFileError extends Error {
  override readonly name = 'EnrollmentFileError'
}

/** The enrollment of `dataDir`, undefined when there is none; throws EnrollmentFileError when it is unusable or readable by others. */
export function readEnrollmentFile(dataDir: string): EnrollmentFile | undefined {
  const path = join(dataDir, ENROLLMENT_FILE_NAME)
  let mode: number
  try {
    const st = lstatSync(path)
    if (!st.isFile()) throw new EnrollmentFileError(`${path} is not a regular file`)
    mode = st.mode
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if ((mode & 0o077) !== 0)
    throw new EnrollmentFileError(`${path} has mode ${(mode & 0o777).toString(8)}: it holds the kiosk's MQTT token and must be 0600 (chmod 600 it; the token may have leaked: consider enrolling again with a new code)`)
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new EnrollmentFileError(`${path} is not readable JSON: ${(err as Error).message}`)
  }
  const checked = validateEnrollmentFile(value)
  if (!checked.ok) throw new EnrollmentFileError(`${path}: ${checked.error}`)
  return checked.value
}

/** Writes the enrollment 0600 through a temp file and a rename, synced: a crash leaves the old file or the new one. Returns its path. */
export function writeEnrollmentFile(dataDir: string, enrollment: EnrollmentFile): string {
  const path = join(dataDir, ENROLLMENT_FILE_NAME)
  const tmp = `${path}.tmp-${process.pid}`
  try {
    unlinkSync(tmp)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    writeSync(fd, `${JSON.stringify(enrollment, null, 2)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  // The umask cannot widen 0600, but a hand-made temp file could be wider: make sure.
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  const dirFd = openSync(dataDir, 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
  return path
}
