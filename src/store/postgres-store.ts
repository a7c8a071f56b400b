import postgres from 'postgres';
import type { Logger } from 'pino';
import { acquireDatabaseLock, type DatabaseLock } from './database-lock.ts';
import type { SqlExecutor, SqlParam, SqlQuerier, SqlRow } from './sql-executor.ts';
import { openSqlStore, type SqlStore } from './sql-store.ts';

export interface PostgresStoreOptions {
  url: string;
  /** Schema to work in (search_path), e.g. an isolated one per test run; it must exist. */
  schema?: string;
  /** Pool size. */
  max?: number;
  /**
   * Take the database lock (one server per schema) before anything else, waiting this long
   * for another process to let go. Unset: no lock (the CLI, tests reading a server's data).
   */
  lockWaitMs?: number | undefined;
  /** How often the held lock's connection is checked (default 1 s). */
  lockCheckMs?: number | undefined;
  logger?: Logger | undefined;
}

type Sql = postgres.Sql | postgres.TransactionSql;

function querier(sql: Sql): SqlQuerier {
  return {
    async query(text: string, params: readonly SqlParam[] = []) {
      return await sql.unsafe<SqlRow[]>(text, [...params]);
    },
    async exec(text: string) {
      await sql.unsafe(text);
    },
  };
}

/** postgres.js onto the executor: one `sql` pool; a transaction pins one connection. */
export function createPostgresExecutor(sql: postgres.Sql): SqlExecutor {
  return {
    ...querier(sql),
    async transaction<T>(fn: (tx: SqlQuerier) => Promise<T>): Promise<T> {
      return (await sql.begin((tx) => fn(querier(tx)))) as T;
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

/** Every statement is refused once the lock is lost: another process serves the database. */
function fenced(db: SqlExecutor, lock: DatabaseLock): SqlExecutor {
  const check = () => {
    const lost = lock.lost();
    if (lost) throw lost;
  };
  return {
    async query(text, params) {
      check();
      return db.query(text, params);
    },
    async exec(text) {
      check();
      return db.exec(text);
    },
    async transaction(fn) {
      check();
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
}

/** A Store on PostgreSQL; migrations are applied before it resolves. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const lock =
    options.lockWaitMs === undefined
      ? undefined
      : await acquireDatabaseLock({
          url: options.url,
          schema: options.schema,
          waitMs: options.lockWaitMs,
          logger: options.logger,
          checkMs: options.lockCheckMs,
        });
  const unlock = () => lock?.release() ?? Promise.resolve();
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    onnotice: () => {},
    ...(options.schema === undefined ? {} : { connection: { search_path: options.schema } }),
  });
  const db = lock ? fenced(createPostgresExecutor(sql), lock) : createPostgresExecutor(sql);
  try {
    return await openSqlStore(db, 'postgres', unlock);
  } catch (error) {
    await db.close();
    await unlock();
    throw error;
  }
}
