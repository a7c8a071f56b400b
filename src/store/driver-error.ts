import { isAppError } from '../errors.ts';
import type { Availability } from './availability.ts';
import type { SqlExecutor, SqlQuerier } from './sql-executor.ts';
import { StoreError, storeUnavailable } from './store-error.ts';

/** Socket errors and postgres.js's own codes for a connection that is gone or never came. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * SQLSTATEs of a server that is not there to answer: class 08 (connection exception),
 * 57P01-57P03 (shutting down, crashed, starting up) and 53300 (no connection slot free).
 */
function isUnreachable(code: string): boolean {
  return CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$|^57P0[123]$|^53300$/.test(code);
}

/**
 * A driver's error as a StoreError that is safe to log: postgres.js and PGlite errors carry
 * the query, its parameters, and PostgreSQL's `detail`/`where` (which quote the values, the
 * row of a failed check included). Only the SQLSTATE, table and constraint are kept.
 */
export function toStoreError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const sqlState = field(error, 'code');
  if (sqlState !== undefined && isUnreachable(sqlState)) return storeUnavailable(sqlState);
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

/**
 * Every error the driver throws comes out of the executor as a StoreError; `availability`
 * learns of each query that could not reach the database and of each that did.
 */
export function guardExecutor(db: SqlExecutor, availability?: Availability): SqlExecutor {
  function guard(error: unknown): unknown {
    const guarded = isAppError(error) ? error : toStoreError(error);
    if (guarded instanceof StoreError && guarded.code === 'store_unavailable') {
      availability?.failed();
    }
    return guarded;
  }
  function reached<T>(value: T): T {
    availability?.reached();
    return value;
  }
  return {
    ...guardQuerier(db, guard, reached),
    async transaction(fn) {
      let own: unknown;
      try {
        const result = await db.transaction(async (tx) => {
          try {
            return await fn(guardQuerier(tx, guard, reached));
          } catch (error) {
            own = error; // the caller's own error (already guarded) passes through as it is
            throw error;
          }
        });
        return reached(result);
      } catch (error) {
        throw error === own ? error : guard(error);
      }
    },
    close: () => db.close(),
  };
}

function guardQuerier(
  q: SqlQuerier,
  guard: (error: unknown) => unknown,
  reached: <T>(value: T) => T,
): SqlQuerier {
  return {
    async query(text, params) {
      try {
        return reached(await q.query(text, params));
      } catch (error) {
        throw guard(error);
      }
    },
    async exec(text) {
      try {
        reached(await q.exec(text));
      } catch (error) {
        throw guard(error);
      }
    },
  };
}

function field(error: unknown, key: string): string | undefined {
  if (typeof error !== 'object' || error === null || !(key in error)) return undefined;
  const value = (error as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
