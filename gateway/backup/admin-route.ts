// POST /admin/backups: a backup of the gateway's database now (behind the
// admin token like every admin route), answered once it is written and
// checked: {file, bytes, pages}. `wristpay-gateway backup` asks through it.
import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import { ErrorBody, HttpError, errorResponses } from '../http.js'
import type { Backups } from './backups.js'
import { storeBackupAdvice } from './store-backups.js'

export const BackupReply = Type.Object(
  {
    /** Where the backup was written (on the gateway's machine). */
    file: Type.String(),
    bytes: Type.Integer({ minimum: 0 }),
    pages: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)

export interface BackupsAdminDeps {
  /** Undefined when the config names no backup folder. */
  backups: Pick<Backups, 'run'> | undefined
  /** The PostgreSQL store the ledger is in (config store): the refusal then says what to run instead. */
  store?: string | undefined
}

export function backupsAdmin(deps: BackupsAdminDeps): FastifyPluginAsync {
  return async (scope) => {
    scope.post('/backups', { schema: { response: { 200: BackupReply, 409: ErrorBody, ...errorResponses } } }, async () => {
      // With a store, backup.dir would stop the gateway's start: the answer points to PostgreSQL's tools instead.
      if (deps.backups === undefined && deps.store !== undefined) throw new HttpError(409, 'backups_not_configured', storeBackupAdvice(deps.store))
      if (deps.backups === undefined) throw new HttpError(409, 'backups_not_configured', 'no backup folder is configured: set backup.dir in the gateway\'s config')
      try {
        return await deps.backups.run('requested')
      } catch (err) {
        // Already logged with its findings and alerted; the folder holds nothing of it.
        throw new HttpError(500, 'backup_failed', `the backup failed and was not kept: ${(err as Error).message}`.slice(0, 512))
      }
    })
  }
}
