import { readdir, readFile } from 'node:fs/promises';
import type { SqlExecutor } from './sql-executor.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_NAME = /^(\d+)_([\w-]+)\.sql$/;
/** First key of the advisory lock that serializes migrations; the second is the schema. */
const LOCK_CLASS = 7311;

/** The `NNN_name.sql` files beside this module, in version order. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => FILE_NAME.test(f));
  const migrations = await Promise.all(
    files.map(async (file) => {
      const [, version = '', name = ''] = FILE_NAME.exec(file) ?? [];
      return { version: Number(version), name, sql: await readFile(new URL(file, dir), 'utf8') };
    }),
  );
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Applies the migrations not yet recorded in schema_migrations, all in one transaction.
 * The advisory lock makes processes starting together on one database take turns.
 * Returns the versions applied now (empty when the schema was already current).
 */
export async function migrate(
  db: SqlExecutor,
  migrations: readonly Migration[],
): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [LOCK_CLASS]);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const rows = await tx.query('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      done.push(m.version);
    }
    return done;
  });
}
