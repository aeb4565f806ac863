// How many online top-ups are not finished, for the gateway's metrics: a
// growing number of `pending` ones means guests abandon the provider's page or
// its webhooks do not arrive; any `attention` one waits for an operator.
import type { SqlDatabase } from '../sql/database.js'

export interface OpenTopupCount {
  provider: string
  status: 'creating' | 'pending' | 'attention'
  count: number
}

/** A reader of the open top-ups per provider and status (one grouped COUNT on the status index). */
export function openTopupCounts(db: SqlDatabase): () => OpenTopupCount[] {
  const query = db.prepare<[], OpenTopupCount>(
    `SELECT provider, status, COUNT(*) AS count FROM online_topups
     WHERE status IN ('creating', 'pending', 'attention') GROUP BY provider, status ORDER BY provider, status`,
  )
  return () => query.all()
}
