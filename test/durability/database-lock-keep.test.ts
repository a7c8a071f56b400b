import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_MACHINE_VERSION } from '../../machines/session.types.ts';
import { acquireDatabaseLock } from '../../src/store/database-lock.ts';
import { openPostgresStore } from '../../src/store/postgres-store.ts';
import {
  privatePostgresMissing,
  startPrivatePostgres,
  type PrivatePostgres,
} from '../support/private-postgres.ts';

const missing = privatePostgresMissing();
if (missing) console.info(`skipped: the database lock keeper suite (${missing})`);

const CHECK_MS = 300;

/** Ends the lock holder's connection, as a database restart or a network cut would. */
async function dropLockConnection(admin: postgres.Sql): Promise<void> {
  const rows = await admin.unsafe<{ ok: boolean }[]>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
     WHERE application_name LIKE 'hitl-runtime pid %'`,
  );
  expect(rows.map((r) => r.ok)).toEqual([true]);
}

const tryLock = (url: string) =>
  acquireDatabaseLock({ url, waitMs: 0 }).then(
    (lock) => lock,
    (error: { code?: string }) => error.code,
  );

const session = (id: string) => ({
  id,
  owner: 'alice',
  state: 'idle' as const,
  machine_version: SESSION_MACHINE_VERSION,
});

// PostgreSQL releases an advisory lock with its connection, and postgres.js reconnects by
// itself: without a keeper, a restart of the database left this process serving without the
// lock, and a second server could take it and serve the same sessions.
describe.skipIf(missing !== null)('the database lock after its connection drops', () => {
  let pg: PrivatePostgres;
  let admin: postgres.Sql;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  }, 60_000);
  afterAll(async () => {
    await admin?.end({ timeout: 5 });
    pg?.dispose();
  });

  it('is taken again at once when nobody else took it', async () => {
    const store = await openPostgresStore({ url: pg.url, lockWaitMs: 0, lockCheckMs: CHECK_MS });
    try {
      await dropLockConnection(admin);
      await sleep(CHECK_MS * 3);
      expect(await tryLock(pg.url)).toBe('database_locked');
      await store.createSession(session('ses_kept'));
    } finally {
      await store.close();
    }
  });

  it('fences the store when another process took it first: every write is refused', async () => {
    const store = await openPostgresStore({ url: pg.url, lockWaitMs: 0, lockCheckMs: CHECK_MS });
    let other: Awaited<ReturnType<typeof acquireDatabaseLock>> | undefined;
    try {
      await dropLockConnection(admin);
      const taken = await tryLock(pg.url);
      if (typeof taken === 'string' || taken === undefined) throw new Error(`not taken: ${taken}`);
      other = taken;
      await sleep(CHECK_MS * 3);
      await expect(store.createSession(session('ses_fenced'))).rejects.toMatchObject({
        code: 'database_locked',
      });
      const [row] = await admin.unsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM sessions WHERE id = 'ses_fenced'`,
      );
      expect(row?.n).toBe(0);
    } finally {
      await other?.release();
      await store.close();
    }
  });
});
