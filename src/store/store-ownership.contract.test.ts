import { PGlite } from '@electric-sql/pglite';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { createMemoryStore } from './memory-store.ts';
import { createPgliteExecutor } from './pglite-store.ts';
import { createPostgresExecutor, openPostgresStore } from './postgres-store.ts';
import { describeOwnership } from '../../test/support/store-ownership-contract.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { openSqlStore } from './sql-store.ts';

describeOwnership('memory store ownership', { sql: false, concurrent: false }, () =>
  Promise.resolve({ open: () => Promise.resolve(createMemoryStore()) }),
);

describeOwnership('PGlite store ownership', { sql: true, concurrent: false }, async () => {
  // Stores on one instance: each has its own held epochs and chain heads, as two nodes would.
  const pg = await PGlite.create('memory://');
  const shared = createPgliteExecutor(pg);
  const unclosable = (): SqlExecutor => ({ ...shared, close: () => Promise.resolve() });
  return {
    open: () => openSqlStore(unclosable(), 'pglite'),
    raw: (text, params) => shared.query(text, params),
    teardown: () => pg.close(),
  };
});

const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl) {
  describeOwnership('PostgreSQL store ownership', { sql: true, concurrent: true }, async () => {
    const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const options = { onnotice: () => {}, connection: { search_path: schema } };
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const pool = postgres(databaseUrl, { max: 4, ...options });
    const raw = createPostgresExecutor(pool);
    return {
      open: () => openPostgresStore({ url: databaseUrl, schema, max: 4 }),
      raw: (text, params) => raw.query(text, params),
      async connect() {
        const one = await pool.reserve();
        const [row] = await one.unsafe<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
        return {
          pid: Number(row?.pid),
          query: (text, params = []) => one.unsafe(text, params),
          release: async () => {
            await one.unsafe('ROLLBACK').catch(() => undefined);
            one.release();
          },
        };
      },
      async teardown() {
        await raw.close();
        await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    };
  });
}
