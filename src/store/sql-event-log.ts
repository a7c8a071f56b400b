import { verifyEvents } from './event-chain.ts';
import { EVENT_COLUMNS } from './sql-batch-sql.ts';
import type { SqlQuerier } from './sql-executor.ts';
import { toStoredEvent } from './sql-rows.ts';
import type { ChainVerification, StoredEvent } from './store.ts';

/** The read side of the audit log over SQL (its writes go through sql-batch.ts). */
export interface SqlEventLog {
  read(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  lastSeq(sessionId: string): Promise<number>;
  verify(sessionId: string): Promise<ChainVerification>;
}

export function createSqlEventLog(db: SqlQuerier): SqlEventLog {
  return {
    async read(sessionId, afterSeq, limit) {
      const rows = await db.query(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3`,
        [sessionId, afterSeq, limit],
      );
      return rows.map(toStoredEvent);
    },
    async lastSeq(sessionId) {
      const rows = await db.query(
        'SELECT coalesce(max(seq), 0) AS seq FROM events WHERE session_id = $1',
        [sessionId],
      );
      return Number(rows[0]?.seq ?? 0);
    },
    async verify(sessionId) {
      const rows = await db.query(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 ORDER BY seq`,
        [sessionId],
      );
      return verifyEvents(sessionId, rows.map(toStoredEvent));
    },
  };
}
