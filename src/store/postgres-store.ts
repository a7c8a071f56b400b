import postgres from 'postgres';
import type { Logger } from 'pino';
import { acquireDatabaseLock } from './database-lock.ts';
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

/** A Store on PostgreSQL; migrations are applied before it resolves. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const unlock =
    options.lockWaitMs === undefined
      ? () => Promise.resolve()
      : await acquireDatabaseLock({
          url: options.url,
          schema: options.schema,
          waitMs: options.lockWaitMs,
          logger: options.logger,
        });
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    onnotice: () => {},
    ...(options.schema === undefined ? {} : { connection: { search_path: options.schema } }),
  });
  const db = createPostgresExecutor(sql);
  try {
    return await openSqlStore(db, 'postgres', unlock);
  } catch (error) {
    await db.close();
    await unlock();
    throw error;
  }
}
