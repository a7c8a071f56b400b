import { PGlite, type Transaction } from '@electric-sql/pglite';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { acquireDataDirLock } from './data-dir-lock.ts';
import type { SqlExecutor, SqlParam, SqlQuerier } from './sql-executor.ts';
import { openSqlStore, type SqlStore } from './sql-store.ts';

export const MEMORY_DATA_DIR = 'memory://';

function querier(pg: PGlite | Transaction): SqlQuerier {
  return {
    async query(text: string, params: readonly SqlParam[] = []) {
      return (await pg.query<Record<string, unknown>>(text, [...params])).rows;
    },
    async exec(text: string) {
      await pg.exec(text);
    },
  };
}

/** PGlite onto the executor. Queries in one instance run one at a time. */
export function createPgliteExecutor(pg: PGlite): SqlExecutor {
  return {
    ...querier(pg),
    transaction: (fn) => pg.transaction((tx) => fn(querier(tx))),
    close: () => pg.close(),
  };
}

/**
 * A Store on embedded PGlite: `memory://` for a throwaway database, otherwise a data
 * directory, locked against a second process for as long as the store is open.
 */
export async function openPgliteStore(options: {
  dataDir: string;
  logger?: Logger | undefined;
}): Promise<SqlStore> {
  const inMemory = options.dataDir === MEMORY_DATA_DIR;
  const dataDir = inMemory ? MEMORY_DATA_DIR : resolve(options.dataDir);
  const lock = inMemory ? undefined : await acquireDataDirLock(dataDir);
  if (lock?.outside) {
    options.logger?.warn(
      { dataDir, lock: lock.path },
      'the data directory path is too long for its lock socket: the lock is in the temp dir, so it only keeps out processes sharing that temp dir',
    );
  }
  const release = () => lock?.release() ?? Promise.resolve();
  let db: SqlExecutor | undefined;
  try {
    db = createPgliteExecutor(await PGlite.create(dataDir));
    return await openSqlStore(db, 'pglite', release);
  } catch (error) {
    await db?.close();
    await release();
    throw error;
  }
}
