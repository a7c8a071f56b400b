import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openPgliteStore } from '../../src/store/pglite-store.ts';
import { openPostgresStore } from '../../src/store/postgres-store.ts';
import type { Store } from '../../src/store/store.ts';

export type Backend = 'pglite' | 'postgres';

/** PGlite always; PostgreSQL too when DATABASE_URL is set (as .ci/run sets it). */
export function testBackends(): Backend[] {
  return process.env['DATABASE_URL'] ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestStore {
  store: Store;
  /** For PostgreSQL: the isolated schema; a second store on it sees the same data. */
  reopen(): Promise<Store>;
  dispose(): Promise<void>;
}

/** A throwaway store: PGlite in memory, or a fresh schema on PostgreSQL dropped afterwards. */
export async function openTestStore(backend: Backend, dataDir = 'memory://'): Promise<TestStore> {
  if (backend === 'pglite') {
    const store = await openPgliteStore({ dataDir });
    return {
      store,
      reopen: () => openPgliteStore({ dataDir }),
      dispose: () => store.close(),
    };
  }
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is not set');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${schema}`);
  const store = await openPostgresStore({ url, schema, max: 4 });
  return {
    store,
    reopen: () => openPostgresStore({ url, schema, max: 4 }),
    async dispose() {
      await store.close();
      await admin.unsafe(`drop schema ${schema} cascade`);
      await admin.end({ timeout: 5 });
    },
  };
}
