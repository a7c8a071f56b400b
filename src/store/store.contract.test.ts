import { PGlite } from '@electric-sql/pglite';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { createMemoryStore } from './memory-store.ts';
import { createPgliteExecutor } from './pglite-store.ts';
import { createPostgresExecutor, openPostgresStore } from './postgres-store.ts';
import { describeStore } from '../../test/support/store-contract.ts';
import type { Backend } from '../../test/support/store-fixtures.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { openSqlStore } from './sql-store.ts';

/** Counts the statements that write events, and all statements, to see group commit at work. */
function counting(db: SqlExecutor) {
  let n = 0;
  let all = 0;
  const executor: SqlExecutor = {
    ...db,
    query: (text, params) => {
      if (text.includes('INSERT INTO events')) n += 1;
      all += 1;
      return db.query(text, params);
    },
  };
  return { executor, eventWrites: () => n, statements: () => all };
}

describeStore('memory store', false, () =>
  Promise.resolve({ open: () => Promise.resolve(createMemoryStore()) }),
);

describeStore('PGlite store (memory://)', true, async () => {
  // One instance for the whole file: each costs seconds to create.
  const pg = await PGlite.create('memory://');
  const shared = createPgliteExecutor(pg);
  const unclosable = (): SqlExecutor => ({ ...shared, close: () => Promise.resolve() });
  return {
    open: () => openSqlStore(unclosable(), 'pglite'),
    async openCounting() {
      const { executor, ...counts } = counting(unclosable());
      return { store: await openSqlStore(executor, 'pglite'), ...counts };
    },
    raw: (text, params) => shared.query(text, params),
    teardown: () => pg.close(),
  } satisfies Backend;
});

const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl) {
  describeStore('PostgreSQL store', true, async () => {
    // A fresh schema per run, so parallel runs on one database never meet.
    const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const raw = createPostgresExecutor(
      postgres(databaseUrl, { max: 2, onnotice: () => {}, connection: { search_path: schema } }),
    );
    return {
      open: () => openPostgresStore({ url: databaseUrl, schema, max: 4 }),
      async openCounting() {
        const sql = postgres(databaseUrl, {
          max: 4,
          onnotice: () => {},
          connection: { search_path: schema },
        });
        const { executor, ...counts } = counting(createPostgresExecutor(sql));
        return { store: await openSqlStore(executor, 'postgres'), ...counts };
      },
      raw: (text, params) => raw.query(text, params),
      async teardown() {
        await raw.close();
        await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    } satisfies Backend;
  });
}
