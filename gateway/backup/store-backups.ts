// Backups when the ledger is in PostgreSQL (config `store`): wristpay's own
// backups copy the SQLite file, so with a store each way to one (the
// gateway's start with `backup` in its config, `wristpay-gateway backup`,
// POST /admin/backups) refuses, and says what to run instead: PostgreSQL's
// own tools on the same database, then the audit of the restored copy.

/**
 * The store's URL as pg_dump and pg_basebackup take it: its passfile= kept
 * (they read the same passfile as the gateway), a password left out (the
 * gateway refuses a URL with one, and it must not reach a terminal or a log).
 */
export function storeUrlForTools(store: string): string {
  let url: URL
  try {
    url = new URL(store)
  } catch {
    return 'postgres://USER@HOST:PORT/DATABASE'
  }
  url.password = ''
  url.searchParams.delete('password')
  return url.toString()
}

/** What an operator runs instead of wristpay's backups when the ledger is in `store`: several lines, README's section named. */
export function storeBackupAdvice(store: string): string {
  const url = storeUrlForTools(store)
  return [
    `backup copies the SQLite file, and this gateway's ledger is in PostgreSQL (store ${url}): back that database up with PostgreSQL's own tools instead,`,
    `as the gateway's user (they read the same passfile):`,
    `  pg_dump --format=custom --file=wristpay-$(date -u +%Y%m%dT%H%M%SZ).dump '${url}'`,
    `      a consistent copy of the database while the gateways run; restore it with pg_restore --dbname=NEW_URL into an empty`,
    `      database made with createdb --locale=C --template=template0`,
    `  pg_basebackup --dbname='${url}' --pgdata=DIR --wal-method=stream --checkpoint=fast`,
    `      a copy of the whole server with the WAL it needs to start (a role with REPLICATION); with WAL archiving, point-in-time recovery`,
    `then audit the restored copy: wristpay-gateway audit --store NEW_URL must exit 0. README "Backups and restore" has the steps.`,
  ].join('\n')
}
