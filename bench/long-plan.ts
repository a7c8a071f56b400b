/**
 * The bytes the store writes per event as one execution grows: a 1,000-step execution (a
 * planner that asks for `echo` a thousand times; an `execute` plan stops at 100 steps) on the
 * bench's storage, with every batch statement's parameters counted at the SQL executor. The
 * server runs in this process: the figure is bytes, not time.
 */
import { PGlite } from '@electric-sql/pglite';
import pino from 'pino';
import postgres from 'postgres';
import { builtinTools } from '../src/agent/builtin-tools.ts';
import type { Planner } from '../src/agent/planner.ts';
import { toolOutcomes } from '../src/agent/tool-outcomes.ts';
import { connectSession } from '../src/client/index.ts';
import { startServer } from '../src/start-server.ts';
import { createPgliteExecutor } from '../src/store/pglite-store.ts';
import { createPostgresExecutor } from '../src/store/postgres-store.ts';
import { BATCH_WRITE } from '../src/store/sql-batch-sql.ts';
import type { SqlExecutor } from '../src/store/sql-executor.ts';
import { openSqlStore } from '../src/store/sql-store.ts';
import type { Storage } from './server-process.ts';

export interface LongPlanRun extends Record<string, number> {
  steps: number;
  /** Bytes written per stored event over the first 1% of the execution's events. */
  firstBytesPerEvent: number;
  /** The same over the last 1% (before its `complete`). */
  lastBytesPerEvent: number;
  totalMiB: number;
  stepsPerSec: number;
}

interface Write {
  bytes: number;
  events: number;
}

/** A planner that calls `echo` `steps` times, then answers with a one-line summary. */
function echoPlanner(steps: number): Planner {
  return {
    next(input) {
      const done = toolOutcomes(input.history).length;
      return Promise.resolve(
        done < steps
          ? { kind: 'call', tool: 'echo', args: { text: `step ${done + 1}` } }
          : { kind: 'final', summary: `${done} steps` },
      );
    },
  };
}

/** Counts what each batch statement carries: its parameters' bytes and its events. */
function counting(db: SqlExecutor, writes: Write[]): SqlExecutor {
  return {
    ...db,
    query(text, params = []) {
      if (text === BATCH_WRITE) {
        const bytes = params.reduce<number>((n, p) => n + Buffer.byteLength(String(p)), 0);
        const events = String(params[0]).split('"prev_hash":').length - 1;
        writes.push({ bytes, events });
      }
      return db.query(text, params);
    },
  };
}

async function openExecutor(storage: Storage): Promise<SqlExecutor> {
  if (storage.backend === 'postgres') {
    return createPostgresExecutor(postgres(storage.env.DATABASE_URL, { onnotice: () => {} }));
  }
  return createPgliteExecutor(await PGlite.create(storage.env.DATA_DIR));
}

/** Bytes per event over the events from index `from` up to `to` of the execution. */
function bytesPerEvent(writes: readonly Write[], from: number, to: number): number {
  let seen = 0;
  let bytes = 0;
  let events = 0;
  for (const write of writes) {
    const start = seen;
    seen += write.events;
    if (write.events === 0 || seen <= from || start >= to) continue;
    bytes += write.bytes;
    events += write.events;
  }
  return bytes / events;
}

export async function longPlanRun(storage: Storage, steps: number): Promise<LongPlanRun> {
  const writes: Write[] = [];
  const store = await openSqlStore(counting(await openExecutor(storage), writes), storage.backend);
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    store,
    tools: builtinTools(),
    planner: echoPlanner(steps),
    auth: { mode: 'dev' },
    logger: pino({ level: 'warn' }),
  });
  try {
    const response = await fetch(`${server.url}/api/v1/sessions`, { method: 'POST' });
    const { id } = (await response.json()) as { id: string };
    const client = await connectSession({ url: server.url, sessionId: id, timeoutMs: 600_000 });
    const complete = client.waitFor('complete', undefined, { timeoutMs: 600_000 });
    const started = performance.now();
    writes.length = 0;
    await client.execute('a long one');
    await complete;
    const seconds = (performance.now() - started) / 1000;
    await client.close();
    const total = writes.reduce((n, w) => n + w.events, 0);
    const slice = Math.max(1, Math.floor(total / 100));
    return {
      steps,
      firstBytesPerEvent: bytesPerEvent(writes, 0, slice),
      lastBytesPerEvent: bytesPerEvent(writes, total - 1 - slice, total - 1),
      totalMiB: writes.reduce((n, w) => n + w.bytes, 0) / 2 ** 20,
      stepsPerSec: steps / seconds,
    };
  } finally {
    await server.close();
    await store.close();
  }
}
