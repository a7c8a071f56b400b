import type { Logger } from 'pino';
import { openPgliteStore } from './pglite-store.ts';
import { openPostgresStore } from './postgres-store.ts';
import type { SqlStore } from './sql-store.ts';

/** PostgreSQL when a database URL is configured, else embedded PGlite in `dataDir`. */
export function openStore(config: {
  databaseUrl?: string | undefined;
  dataDir: string;
  logger?: Logger | undefined;
  /** A server holds the PostgreSQL database lock, waiting this long for it; the CLI does not. */
  serverLockWaitMs?: number | undefined;
}): Promise<SqlStore> {
  return config.databaseUrl === undefined
    ? openPgliteStore({ dataDir: config.dataDir, logger: config.logger })
    : openPostgresStore({
        url: config.databaseUrl,
        lockWaitMs: config.serverLockWaitMs,
        logger: config.logger,
      });
}
