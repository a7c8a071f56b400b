import { isAppError } from '../errors.ts';
import type { SqlExecutor, SqlQuerier } from './sql-executor.ts';
import { StoreError } from './store-error.ts';

/**
 * A driver's error as a StoreError that is safe to log: postgres.js and PGlite errors carry
 * the query, its parameters, and PostgreSQL's `detail`/`where` (which quote the values, the
 * row of a failed check included). Only the SQLSTATE, table and constraint are kept.
 */
export function toStoreError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const sqlState = field(error, 'code');
  const isSqlState = sqlState !== undefined && /^[0-9A-Z]{5}$/.test(sqlState);
  const table = field(error, 'table_name') ?? field(error, 'table');
  const constraint = field(error, 'constraint_name') ?? field(error, 'constraint');
  const cause = isSqlState ? `SQLSTATE ${sqlState}` : (sqlState ?? 'driver error');
  const where = constraint ? ` (constraint ${constraint})` : table ? ` (table ${table})` : '';
  return new StoreError('store_query_failed', `store query failed: ${cause}${where}`, {
    sqlState: isSqlState ? sqlState : undefined,
    table,
    constraint,
  });
}

/** The same error, naming the session whose read or write failed. */
export function inSession(error: unknown, sessionId: string): unknown {
  if (!(error instanceof StoreError) || error.sessionId !== undefined) return error;
  const { sqlState, table, constraint } = error;
  const message = error.message.replace(
    /^store query failed/,
    `store query of session ${sessionId} failed`,
  );
  return new StoreError(error.code, message, { sqlState, table, constraint, sessionId });
}

/** Runs a store call, naming its session in any StoreError it throws. */
export async function forSession<T>(sessionId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw inSession(error, sessionId);
  }
}

/** Every error the driver throws comes out of the executor as a StoreError. */
export function guardExecutor(db: SqlExecutor): SqlExecutor {
  return {
    ...guardQuerier(db),
    async transaction(fn) {
      let own: unknown;
      try {
        return await db.transaction(async (tx) => {
          try {
            return await fn(guardQuerier(tx));
          } catch (error) {
            own = error; // the caller's own error (already guarded) passes through as it is
            throw error;
          }
        });
      } catch (error) {
        throw error === own || isAppError(error) ? error : toStoreError(error);
      }
    },
    close: () => db.close(),
  };
}

function guardQuerier(q: SqlQuerier): SqlQuerier {
  return {
    async query(text, params) {
      try {
        return await q.query(text, params);
      } catch (error) {
        throw toStoreError(error);
      }
    },
    async exec(text) {
      try {
        await q.exec(text);
      } catch (error) {
        throw toStoreError(error);
      }
    },
  };
}

function field(error: unknown, key: string): string | undefined {
  if (typeof error !== 'object' || error === null || !(key in error)) return undefined;
  const value = (error as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
