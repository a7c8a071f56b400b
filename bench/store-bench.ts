/**
 * Events/s into the audit log: one awaited single-event append at a time, versus many
 * concurrent single-event appends that group-commit. PGlite on a temp data dir, and
 * PostgreSQL (in a throwaway schema) when DATABASE_URL is set. Prints medians of RUNS.
 *
 *   npx tsx bench/store-bench.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { OutboundEvent } from '../src/protocol/outbound.ts';
import { openPgliteStore } from '../src/store/pglite-store.ts';
import { openPostgresStore } from '../src/store/postgres-store.ts';
import type { Store } from '../src/store/store.ts';

const RUNS = 7;
const SEQUENTIAL_EVENTS = 500;
const CONCURRENT_EVENTS = 5000;
const SESSIONS = 50;

function event(sessionId: string, seq: number): OutboundEvent {
  return {
    type: 'tool_result',
    session_id: sessionId,
    seq,
    timestamp: new Date().toISOString(),
    state: 'executing',
    execution_id: 'exec-1',
    data: { call_id: `call-${seq}`, tool: 'search', result: { hits: [1, 2, 3], q: 'bench' } },
  };
}

async function sequential(store: Store): Promise<number> {
  const id = `bench-${randomUUID()}`;
  const start = performance.now();
  for (let seq = 1; seq <= SEQUENTIAL_EVENTS; seq += 1) await store.appendEvents([event(id, seq)]);
  return SEQUENTIAL_EVENTS / ((performance.now() - start) / 1000);
}

async function concurrent(store: Store): Promise<number> {
  const ids = Array.from({ length: SESSIONS }, () => `bench-${randomUUID()}`);
  const perSession = CONCURRENT_EVENTS / SESSIONS;
  const start = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let seq = 1; seq <= perSession; seq += 1) {
    for (const id of ids) calls.push(store.appendEvents([event(id, seq)]));
  }
  await Promise.all(calls);
  return CONCURRENT_EVENTS / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

interface Row {
  backend: string;
  mode: string;
  events: number;
  runs: number[];
}

async function measure(backend: string, store: Store): Promise<Row[]> {
  // Warm-up: JIT (PGlite's WebAssembly too), prepared statements, caches.
  await sequential(store);
  await concurrent(store);
  const rows: Row[] = [
    { backend, mode: 'sequential (1 awaited at a time)', events: SEQUENTIAL_EVENTS, runs: [] },
    { backend, mode: `concurrent (${SESSIONS} sessions)`, events: CONCURRENT_EVENTS, runs: [] },
  ];
  for (let i = 0; i < RUNS; i += 1) {
    rows[0]?.runs.push(await sequential(store));
    rows[1]?.runs.push(await concurrent(store));
  }
  return rows;
}

async function benchPglite(): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-bench-'));
  const store = await openPgliteStore({ dataDir: dir });
  try {
    return await measure('pglite (data dir)', store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(url: string): Promise<Row[]> {
  const schema = `bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const store = await openPostgresStore({ url, schema });
  try {
    return await measure('postgres', store);
  } finally {
    await store.close();
    await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

const rows = await benchPglite();
if (process.env.DATABASE_URL) rows.push(...(await benchPostgres(process.env.DATABASE_URL)));

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`\nmedian events/s over ${RUNS} runs (min-max)\n`);
console.log(`${'backend'.padEnd(20)}${'mode'.padEnd(38)}${'events'.padStart(8)}  events/s`);
for (const row of rows) {
  const range = `(${fmt(Math.min(...row.runs))}-${fmt(Math.max(...row.runs))})`;
  console.log(
    `${row.backend.padEnd(20)}${row.mode.padEnd(38)}${String(row.events).padStart(8)}  ` +
      `${fmt(median(row.runs)).padStart(8)} ${range}`,
  );
}
