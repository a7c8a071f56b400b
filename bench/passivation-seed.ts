import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { newId } from '../src/runtime/ids.ts';
import { partsNamed } from '../src/runtime/snapshot-parts.ts';
import { chainHash, GENESIS_HASH, stripChain } from '../src/store/event-chain.ts';
import { openStore } from '../src/store/open-store.ts';
import { createPgliteExecutor } from '../src/store/pglite-store.ts';
import { createPostgresExecutor } from '../src/store/postgres-store.ts';
import type { SqlExecutor } from '../src/store/sql-executor.ts';
import type { Storage } from './server-process.ts';

const BATCH = 1_000;

/**
 * `count` copies of a session the real server stored (its row, hash-chained events, snapshot
 * and snapshot parts, under a new id each), while no server runs. The template is read through
 * the store; the copies go in as multi-row inserts (a thousand sessions per statement), since
 * a store call per session would take minutes for 100,000. A restore of any copy is a restore
 * of a real snapshot, and its chain verifies.
 */
export async function seedCopies(
  storage: Storage,
  templateId: string,
  count: number,
): Promise<string[]> {
  const databaseUrl = storage.env.DATABASE_URL || undefined;
  const store = await openStore({ databaseUrl, dataDir: storage.env.DATA_DIR });
  const record = await store.getSession(templateId);
  if (!record) throw new Error(`no template session ${templateId}`);
  const events = (await store.readEvents(templateId, 0, 1_000)).map(stripChain);
  const parts = await store.readSnapshotParts(templateId, partsNamed(record.snapshot));
  await store.close();

  const text = JSON.stringify({ events, snapshot: record.snapshot, parts });
  const db = await rawExecutor(databaseUrl, storage.env.DATA_DIR);
  const ids: string[] = [];
  try {
    for (let start = 0; start < count; start += BATCH) {
      const rows = { sessions: [] as object[], events: [] as object[], parts: [] as object[] };
      for (let i = start; i < Math.min(count, start + BATCH); i += 1) {
        const id = newId('ses');
        ids.push(id);
        const copy = JSON.parse(text.replaceAll(templateId, id)) as {
          events: typeof events;
          snapshot: unknown;
          parts: typeof parts;
        };
        let prev = GENESIS_HASH;
        for (const event of copy.events) {
          const hash = chainHash(prev, event);
          rows.events.push({ ...event, execution_id: event.execution_id ?? null, prev, hash });
          prev = hash;
        }
        rows.sessions.push({
          id,
          owner: record.owner,
          state: record.state,
          snapshot: copy.snapshot,
          machine_version: record.machine_version,
          last_seq: record.last_seq,
        });
        rows.parts.push(...copy.parts);
      }
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO sessions (id, owner, state, snapshot, machine_version, last_seq)
           SELECT id, owner, state, snapshot, machine_version, last_seq
           FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, owner text, state text,
             snapshot jsonb, machine_version int, last_seq bigint)`,
          [JSON.stringify(rows.sessions)],
        );
        await tx.query(
          `INSERT INTO events (session_id, seq, type, state, execution_id, "timestamp", data,
             prev_hash, hash)
           SELECT session_id, seq, type, state, execution_id, "timestamp", data, prev, hash
           FROM jsonb_to_recordset($1::text::jsonb) AS r(session_id text, seq bigint, type text,
             state text, execution_id text, "timestamp" text, data jsonb, prev text, hash text)`,
          [JSON.stringify(rows.events)],
        );
        await tx.query(
          `INSERT INTO snapshot_parts (session_id, part, idx, value)
           SELECT session_id, part, idx, value
           FROM jsonb_to_recordset($1::text::jsonb) AS r(session_id text, part text, idx int,
             value jsonb)`,
          [JSON.stringify(rows.parts)],
        );
      });
    }
    return ids;
  } finally {
    await db.close();
  }
}

async function rawExecutor(databaseUrl: string | undefined, dataDir: string): Promise<SqlExecutor> {
  if (databaseUrl)
    return createPostgresExecutor(postgres(databaseUrl, { max: 1, onnotice: () => {} }));
  return createPgliteExecutor(await PGlite.create(dataDir));
}
