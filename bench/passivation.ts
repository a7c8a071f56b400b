/**
 * `npm run bench:passivation`: server memory with 0 vs N stored, passivated sessions, and the
 * latency of the first message to a passivated session. The real server runs as its own
 * process (`src/main.ts` through bench/gc-server.ts, PASSIVATE_AFTER_MS=1000); the client is this
 * process (fetch and `ws`).
 *
 *   1. empty store: one `echo` session is run to `complete` (the template); RSS once it has
 *      passivated;
 *   2. N copies of the template are written straight through the store (server stopped);
 *   3. a new server on them: RSS before any is loaded; then every session read once over REST
 *      (each is restored from its snapshot), and RSS once all of them have passivated again;
 *   4. SAMPLES passivated sessions, one at a time: a REST read (GET /sessions/:id), and a new
 *      socket that sends `execute` as soon as it is `connected` (to its first event, `thinking`).
 *
 * Env: BENCH_SESSIONS (100000), BENCH_SAMPLES (500), BENCH_BACKEND (pglite | postgres, which
 * needs DATABASE_URL). Prints figures; asserts nothing.
 */
import WebSocket from 'ws';
import { seedCopies } from './passivation-seed.ts';
import { machine, sampleProcess } from './proc-stats.ts';
import { prepareStorage, startServerProcess, type Backend } from './server-process.ts';
import { quantiles } from './stats.ts';

const SESSIONS = Number(process.env['BENCH_SESSIONS'] ?? 100_000);
const SAMPLES = Number(process.env['BENCH_SAMPLES'] ?? 500);
const BACKEND = (process.env['BENCH_BACKEND'] ?? 'pglite') as Backend;
const PASSIVATE_AFTER_MS = 1_000;
const MiB = 2 ** 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The sum of a metric's samples (all label sets) in the server's /metrics text. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

async function untilNoneInMemory(url: string): Promise<void> {
  while ((await metric(url, 'hitl_sessions_in_memory')) > 0) await sleep(250);
}

/** RSS after a full GC (bench/gc-server.ts) and a quiet while: median of five readings. */
async function settledRss(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(3_000);
  const readings: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    readings.push((await sampleProcess(pid)).rss);
    await sleep(200);
  }
  return quantiles(readings).p50;
}

interface SocketRun {
  /** Socket opened -> `connected` (the upgrade restores the session). */
  connected: number;
  /** `execute` sent -> `thinking`, on the session just restored. */
  firstEvent: number;
  /** Socket opened -> `thinking`. */
  total: number;
  /** `execute` sent -> `thinking` again once the first completed: the session is live now. */
  live: number;
}

/** A socket that sends `execute` once connected, and once more after it completes. */
function executeOverSocket(url: string, sessionId: string): Promise<SocketRun> {
  return new Promise((resolve, reject) => {
    const opened = performance.now();
    let connectedAt = 0;
    let sentAt = 0;
    let first: Omit<SocketRun, 'live'> | null = null;
    let completes = 0;
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws?session_id=${sessionId}`);
    const execute = (command: string) => {
      sentAt = performance.now();
      ws.send(JSON.stringify({ type: 'execute', command }));
    };
    ws.on('message', (raw: Buffer) => {
      const event = JSON.parse(raw.toString('utf8')) as { type: string };
      const now = performance.now();
      if (event.type === 'connected') {
        connectedAt = now;
        execute('echo back again');
      } else if (event.type === 'thinking' && !first) {
        first = { connected: connectedAt - opened, firstEvent: now - sentAt, total: now - opened };
      } else if (event.type === 'thinking' && first) {
        resolve({ ...first, live: now - sentAt });
      } else if (event.type === 'complete') {
        completes += 1;
        if (completes === 1) execute('echo once more');
        else ws.close();
      } else if (event.type === 'error') {
        reject(new Error(`error event: ${raw.toString('utf8')}`));
      }
    });
    ws.on('error', reject);
    // After the second `thinking` this rejects nothing (the promise is settled).
    ws.on('close', (code: number, reason: Buffer) =>
      reject(new Error(`socket closed (${code} ${reason.toString()}) before the second execute`)),
    );
  });
}

/** One session run through `echo` to `complete` over a socket: the template for the seed. */
async function templateSession(url: string): Promise<string> {
  const created = (await (await fetch(`${url}/api/v1/sessions`, { method: 'POST' })).json()) as {
    id: string;
  };
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws?session_id=${created.id}`);
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (raw: Buffer) => {
      const event = JSON.parse(raw.toString('utf8')) as { type: string };
      if (event.type === 'connected')
        ws.send(JSON.stringify({ type: 'execute', command: 'echo hi' }));
      if (event.type === 'complete') resolve();
    });
    ws.on('error', reject);
  });
  ws.close();
  return created.id;
}

/** Reads every session once over REST, `concurrency` at a time. */
async function readAll(url: string, ids: readonly string[], concurrency = 32): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const response = await fetch(`${url}/api/v1/sessions/${id}`);
      if (response.status !== 200) throw new Error(`read ${id}: ${response.status}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const ms = (value: number) => `${value.toFixed(2)} ms`;
const line = (name: string, q: { p50: number; p99: number }) =>
  say(`  ${name.padEnd(44)} p50 ${ms(q.p50).padStart(9)}   p99 ${ms(q.p99).padStart(9)}`);

const storage = await prepareStorage(BACKEND, {
  databaseUrl: process.env['DATABASE_URL'],
  syncCommit: 'on',
});
const env = { ...storage.env, PASSIVATE_AFTER_MS: String(PASSIVATE_AFTER_MS) };
const start = () =>
  startServerProcess({ entry: 'bench/gc-server.ts', nodeArgs: ['--expose-gc'], env });
let server: Awaited<ReturnType<typeof start>> | undefined;
try {
  say(`passivation bench: ${BACKEND}, ${SESSIONS} sessions, ${SAMPLES} samples`);
  say(`machine: ${await machine()}`);
  server = await start();
  const templateId = await templateSession(server.url);
  await server.stop();
  // A second server on it: the first one's RSS holds PGlite's initdb.
  server = await start();
  await readAll(server.url, [templateId], 1);
  await untilNoneInMemory(server.url);
  const emptyRss = await settledRss(server.pid);
  const emptyHeap = await metric(server.url, 'nodejs_heap_size_used_bytes');
  await server.stop();

  let at = performance.now();
  const ids = await seedCopies(storage, templateId, SESSIONS);
  say(`seeded ${ids.length} sessions in ${((performance.now() - at) / 1000).toFixed(1)} s`);

  server = await start();
  const storedRss = await settledRss(server.pid);
  const storedHeap = await metric(server.url, 'nodejs_heap_size_used_bytes');
  at = performance.now();
  await readAll(server.url, ids);
  const readSeconds = (performance.now() - at) / 1000;
  const loadedPeak = (await sampleProcess(server.pid)).peakRss;
  await untilNoneInMemory(server.url);
  const passivatedRss = await settledRss(server.pid);
  const heapUsed = await metric(server.url, 'nodejs_heap_size_used_bytes');

  const shuffled = [...ids].sort(() => Math.random() - 0.5);
  const restReads: number[] = [];
  for (const id of shuffled.slice(0, SAMPLES)) {
    const t0 = performance.now();
    const response = await fetch(`${server.url}/api/v1/sessions/${id}`);
    await response.arrayBuffer();
    restReads.push(performance.now() - t0);
  }
  const socketRuns = [];
  for (const id of shuffled.slice(SAMPLES, 2 * SAMPLES)) {
    socketRuns.push(await executeOverSocket(server.url, id));
  }
  const restored = await metric(server.url, 'hitl_sessions_restored_total');
  const passivated = await metric(server.url, 'hitl_sessions_passivated_total');

  say('');
  say('server memory (RSS, median of 5 readings after 3 s quiet)');
  say(`  0 stored sessions                            ${mib(emptyRss)}`);
  say(`  ${SESSIONS} stored, none loaded yet              ${mib(storedRss)}`);
  say(`  ${SESSIONS} stored, all read once, passivated    ${mib(passivatedRss)}`);
  say(
    `  difference (passivated - 0)                  ${mib(passivatedRss - emptyRss)}   target < +50 MiB`,
  );
  say(`  peak RSS while reading all                   ${mib(loadedPeak)}`);
  say(`  V8 heap used: 0 stored ${mib(emptyHeap)}, ${SESSIONS} none loaded ${mib(storedHeap)},`);
  say(`    all passivated ${mib(heapUsed)}`);
  say(`  read all ${SESSIONS} over REST (32 in parallel)  ${readSeconds.toFixed(1)} s`);
  say(`  restored ${restored}, passivated ${passivated} (server counters)`);
  say('');
  say(`first message to a passivated session (${SAMPLES} sessions each, one at a time)`);
  line('REST GET /sessions/:id', quantiles(restReads));
  line('socket open -> connected (restores it)', quantiles(socketRuns.map((r) => r.connected)));
  line('execute -> thinking on that socket', quantiles(socketRuns.map((r) => r.firstEvent)));
  line('socket open -> thinking (target p99 < 20 ms)', quantiles(socketRuns.map((r) => r.total)));
  line('contrast: execute -> thinking, live session', quantiles(socketRuns.map((r) => r.live)));
  say(`load after: ${(await machine()).split('load ')[1] ?? ''}`);
} finally {
  await server?.stop();
  await storage.dispose();
}
