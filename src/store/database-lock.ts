import { hostname } from 'node:os';
import postgres from 'postgres';
import type { Logger } from 'pino';
import { StoreError } from './store-error.ts';

/** One key per database and schema: servers on other schemas never wait for each other. */
const LOCK_KEY = `hashtextextended('hitl-runtime:' || current_database() || ':' ||
  coalesce(current_schema(), ''), 0)`;

export interface DatabaseLockOptions {
  url: string;
  schema?: string | undefined;
  /** How long to wait for another process to let go before failing with database_locked. */
  waitMs: number;
  logger?: Logger | undefined;
}

/**
 * Makes this process the only server on a PostgreSQL schema: a session-level advisory lock on
 * a connection of its own, which PostgreSQL releases when the connection ends, with the
 * process however it dies. Until cluster mode exists two servers on one schema would each keep
 * their own copy of a session and refuse each other's writes. Resolves with the release.
 */
export async function acquireDatabaseLock(
  options: DatabaseLockOptions,
): Promise<() => Promise<void>> {
  const sql = postgres(options.url, {
    max: 1,
    onnotice: () => {},
    // The connection is the lock: never recycled (idle_timeout is off by default too).
    max_lifetime: null,
    connection: {
      application_name: `hitl-runtime pid ${process.pid} on ${hostname()}`,
      ...(options.schema === undefined ? {} : { search_path: options.schema }),
    },
  });
  const release = () => sql.end({ timeout: 5 });
  try {
    const [first] = await sql.unsafe<{ ok: boolean }[]>(
      `SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`,
    );
    if (first?.ok) return release;
    const schema = await currentSchema(sql);
    options.logger?.warn(
      { schema, waitMs: options.waitMs },
      'waiting for the database lock held by another server process',
    );
    if (options.waitMs > 0) {
      await sql.unsafe(`SET lock_timeout = ${Math.ceil(options.waitMs)}`);
      try {
        await sql.unsafe(`SELECT pg_advisory_lock(${LOCK_KEY})`);
        options.logger?.info({ schema }, 'took the database lock');
        return release;
      } catch (error) {
        if (!(error instanceof postgres.PostgresError) || error.code !== '55P03') throw error;
      }
    }
    throw new StoreError(
      'database_locked',
      `another server process holds the database lock of schema ${schema} (waited ${options.waitMs} ms);` +
        ' one process serves a database until cluster mode: stop the other one, or raise DB_LOCK_WAIT_MS',
    );
  } catch (error) {
    await release();
    throw error;
  }
}

async function currentSchema(sql: postgres.Sql): Promise<string> {
  const [row] = await sql.unsafe<{ schema: string | null }[]>('SELECT current_schema() AS schema');
  return row?.schema ?? '(none)';
}
