import { PGlite } from '@electric-sql/pglite';
import { createHash, randomBytes } from 'node:crypto';
import { access, cp, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { acquireDataDirLock } from '../../src/store/data-dir-lock.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { createPgliteExecutor, openPgliteStore } from '../../src/store/pglite-store.ts';
import { createPostgresExecutor } from '../../src/store/postgres-store.ts';
import type { SqlExecutor } from '../../src/store/sql-executor.ts';
import { openSqlStore, type SqlStore } from '../../src/store/sql-store.ts';
import type { Backend } from '../support/stores.ts';
import type { TransportName } from '../support/targets.ts';

/** A direct connection to the data a server process used: raw SQL and the Store on it. */
export interface DirectDb {
  sql: SqlExecutor;
  store: SqlStore;
  close(): Promise<void>;
}

/**
 * Durable data that outlives server processes: a PGlite data directory under the OS temp
 * dir, or a fresh PostgreSQL schema selected through `?search_path=` in DATABASE_URL (the
 * server and the CLI read DATABASE_URL only; postgres.js sends unknown URL parameters as
 * connection parameters).
 */
export interface DurableData {
  backend: Backend;
  /** What a server or CLI process needs in its environment to use this data. */
  env: Record<string, string>;
  /** The data directory (PGlite) or schema (PostgreSQL), as an error message would name it. */
  location: string;
  /** Opens it directly; on PGlite only while no server holds the directory. */
  open(): Promise<DirectDb>;
  dispose(): Promise<void>;
}

/** `transport`, when given, is what every server process on this data runs (TRANSPORT). */
export async function createDurableData(
  backend: Backend,
  transport?: TransportName,
): Promise<DurableData> {
  const data = await (backend === 'pglite' ? createPgliteData() : createPostgresData());
  if (transport) data.env['TRANSPORT'] = transport;
  return data;
}

/**
 * A migrated, empty PGlite data directory to copy: creating one runs initdb (~7 s here),
 * copying takes ~0.1 s. Kept in the temp dir under a key of the PGlite version and the
 * migrations, so test files and later runs share it; built aside and renamed into place.
 */
async function pgliteTemplate(): Promise<string> {
  const pglite = await readFile(
    new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url),
    'utf8',
  );
  const version = (JSON.parse(pglite) as { version: string }).version;
  const migrations = (await loadMigrations()).map((m) => m.sql).join('\n');
  const key = createHash('sha256').update(version).update(migrations).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `hitl-pglite-template-${key}`);
  if (await exists(join(dir, 'PG_VERSION'))) return dir;
  const building = await mkdtemp(join(tmpdir(), 'hitl-pglite-template-build-'));
  await (await openPgliteStore({ dataDir: building })).close();
  // Another test file may have won the race: then its copy is used and ours removed.
  await rename(building, dir).catch(() => rm(building, { recursive: true, force: true }));
  return dir;
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function createPgliteData(): Promise<DurableData> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-durability-'));
  await cp(await pgliteTemplate(), dir, { recursive: true });
  return {
    backend: 'pglite',
    env: { DATA_DIR: dir },
    location: dir,
    async open() {
      const lock = await acquireDataDirLock(dir);
      try {
        const sql = createPgliteExecutor(await PGlite.create(dir));
        const store = await openSqlStore(sql, 'pglite', () => lock.release());
        return { sql, store, close: () => store.close() };
      } catch (error) {
        await lock.release();
        throw error;
      }
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

async function createPostgresData(): Promise<DurableData> {
  const base = process.env['DATABASE_URL'];
  if (!base) throw new Error('DATABASE_URL is not set');
  const schema = `t_durability_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${schema}`);
  const url = new URL(base);
  url.searchParams.set('search_path', schema);
  return {
    backend: 'postgres',
    env: { DATABASE_URL: url.toString() },
    location: schema,
    async open() {
      const sql = createPostgresExecutor(postgres(url.toString(), { max: 2, onnotice: () => {} }));
      const store = await openSqlStore(sql, 'postgres');
      return { sql, store, close: () => store.close() };
    },
    async dispose() {
      await admin.unsafe(`drop schema ${schema} cascade`);
      await admin.end({ timeout: 5 });
    },
  };
}

/** Opens the data, runs fn, closes it again. */
export async function withDirectDb<T>(
  data: DurableData,
  fn: (db: DirectDb) => Promise<T>,
): Promise<T> {
  const db = await data.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
