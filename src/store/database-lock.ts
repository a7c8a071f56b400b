import { hostname } from 'node:os';
import postgres from 'postgres';
import type { Logger } from 'pino';
import { backendPid, openLockConnection } from './lock-connection.ts';
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
  /** How often the lock's connection is checked (default 1 s). */
  checkMs?: number | undefined;
}

/** The lock while held. */
export interface DatabaseLock {
  /**
   * Set once the lock was lost to another process (after the connection dropped, in a
   * database restart, and another server took it first): this one must not write again.
   */
  lost(): StoreError | null;
  release(): Promise<void>;
}

/**
 * Makes this process the only server on a PostgreSQL schema: a session-level advisory lock on
 * a connection of its own, which PostgreSQL releases when the connection ends, with the
 * process however it dies. Until cluster mode exists two servers on one schema would each keep
 * their own copy of a session and refuse each other's writes. Resolves with the held lock.
 */
export async function acquireDatabaseLock(options: DatabaseLockOptions): Promise<DatabaseLock> {
  // The connection is the lock.
  const sql = openLockConnection({
    url: options.url,
    schema: options.schema,
    applicationName: `hitl-runtime pid ${process.pid} on ${hostname()}`,
  });
  const release = () => sql.end({ timeout: 5 });
  try {
    const [first] = await sql.unsafe<{ ok: boolean }[]>(
      `SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`,
    );
    if (first?.ok) return await keep(sql, options);
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
        await sql.unsafe('RESET lock_timeout');
        return await keep(sql, options);
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

/**
 * Keeps the lock: PostgreSQL releases it with the connection that took it, and postgres.js
 * reconnects by itself after a database restart, so the backend pid is checked every
 * `checkMs`. On a new connection the lock is taken again at once; if another process has it
 * by then, this one is fenced: every later write of its store is refused.
 */
async function keep(sql: postgres.Sql, options: DatabaseLockOptions): Promise<DatabaseLock> {
  let pid = await backendPid(sql);
  let lost: StoreError | null = null;
  let checking = false;
  const timer = setInterval(() => {
    if (checking || lost) return;
    checking = true;
    check()
      .catch(() => undefined) // unreachable: the next check tries again
      .finally(() => (checking = false));
  }, options.checkMs ?? 1_000);
  timer.unref();

  async function check(): Promise<void> {
    const now = await backendPid(sql);
    if (now === pid) return;
    const [row] = await sql.unsafe<{ ok: boolean }[]>(
      `SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`,
    );
    if (row?.ok) {
      pid = now;
      options.logger?.warn('the database connection was lost; took the database lock again');
      return;
    }
    lost = new StoreError(
      'database_locked',
      'this process lost the database lock to another server process (its connection dropped);' +
        ' it writes nothing more: restart it',
    );
    clearInterval(timer);
    options.logger?.error({ err: lost }, 'lost the database lock; refusing every write');
  }

  return {
    lost: () => lost,
    async release() {
      clearInterval(timer);
      await sql.end({ timeout: 5 });
    },
  };
}

async function currentSchema(sql: postgres.Sql): Promise<string> {
  const [row] = await sql.unsafe<{ schema: string | null }[]>('SELECT current_schema() AS schema');
  return row?.schema ?? '(none)';
}
