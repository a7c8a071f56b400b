/**
 * Latency of the real server, in-process, over real sockets: connection (upgrade -> connected),
 * ping round trip, and execute -> first event (thinking). PGlite always (a temp data dir);
 * PostgreSQL too when DATABASE_URL is set (an isolated schema, dropped afterwards).
 *
 *   npx tsx bench/latency.ts [samples per run, default 300] [runs, default 5]
 *
 * Prints p50/p95/p99 per run, then the median of each across runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { openTestStore, testBackends, type Backend } from '../test/support/stores.ts';
import { createSession, signToken, startTestApp, type App } from '../test/support/test-app.ts';

const SAMPLES = positive(process.argv[2], 300);
const RUNS = positive(process.argv[3], 5);
const WARMUP = 30;

type Metric = 'connect' | 'ping' | 'execute_to_thinking';
const METRICS: Metric[] = ['connect', 'ping', 'execute_to_thinking'];
type Summary = { p50: number; p95: number; p99: number };

interface Event {
  type: string;
  seq: number;
  data: Record<string, unknown>;
}

/** A socket whose incoming events are handed, in order, to whoever waits for the next one. */
class BenchSocket {
  private readonly waiting: Array<{ match: (e: Event) => boolean; resolve: () => void }> = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const event = JSON.parse((raw as Buffer).toString('utf8')) as Event;
      const head = this.waiting[0];
      if (head?.match(event)) {
        this.waiting.shift();
        head.resolve();
      }
    });
  }

  /** Resolves once the socket is open and its `connected` event arrived. */
  static open(url: string): Promise<BenchSocket> {
    return new Promise((resolve, reject) => {
      const socket = new BenchSocket(new WebSocket(url));
      socket.ws.once('error', reject);
      void socket.next((e) => e.type === 'connected').then(() => resolve(socket));
    });
  }

  next(match: (e: Event) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiting.push({ match, resolve }));
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }
}

async function measure(samples: number, once: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await once();
    out.push(performance.now() - started);
  }
  return out;
}

async function run(app: App, samples: number): Promise<Record<Metric, number[]>> {
  const token = await signToken('bench');
  const sessionId = await createSession(app, token);
  const url = `${app.url.replace('http', 'ws')}/api/v1/ws?session_id=${sessionId}&token=${token}`;

  const connect: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const opened = await BenchSocket.open(url);
    connect.push(performance.now() - started);
    await opened.close();
  }

  const socket = await BenchSocket.open(url);
  const ping = await measure(samples, async () => {
    const pong = socket.next((e) => e.type === 'pong');
    socket.send({ type: 'ping' });
    await pong;
  });

  const firstEvent: number[] = [];
  for (let i = 0; i < samples; i++) {
    const thinking = socket.next((e) => e.type === 'thinking');
    const complete = socket.next((e) => e.type === 'complete');
    const started = performance.now();
    socket.send({ type: 'execute', command: `echo ${i}` });
    await thinking;
    firstEvent.push(performance.now() - started);
    await complete;
  }
  await socket.close();
  return { connect, ping, execute_to_thinking: firstEvent };
}

function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

const ms = (value: number) => value.toFixed(2).padStart(8);

async function benchBackend(backend: Backend): Promise<void> {
  const dataDir = backend === 'pglite' ? await mkdtemp(join(tmpdir(), 'hitl-bench-')) : undefined;
  const db = await openTestStore(backend, dataDir);
  const app = await startTestApp({ store: db.store });
  try {
    await run(app, WARMUP);
    const runs: Array<Record<Metric, Summary>> = [];
    for (let r = 1; r <= RUNS; r++) {
      const samples = await run(app, SAMPLES);
      const summary = Object.fromEntries(
        METRICS.map((metric) => [metric, summarize(samples[metric])]),
      ) as Record<Metric, Summary>;
      runs.push(summary);
      const line = METRICS.map(
        (m) =>
          `${m} p50 ${summary[m].p50.toFixed(2)} p95 ${summary[m].p95.toFixed(2)} p99 ${summary[m].p99.toFixed(2)}`,
      );
      console.log(`  run ${r}: ${line.join(' | ')}`);
    }
    console.log(`\n${backend}: median of ${RUNS} runs x ${SAMPLES} samples (ms)`);
    console.log(
      `  ${'metric'.padEnd(22)}${'p50'.padStart(8)}${'p95'.padStart(8)}${'p99'.padStart(8)}`,
    );
    for (const metric of METRICS) {
      const [p50, p95, p99] = (['p50', 'p95', 'p99'] as const).map((p) =>
        median(runs.map((summary) => summary[metric][p])),
      );
      console.log(`  ${metric.padEnd(22)}${ms(p50!)}${ms(p95!)}${ms(p99!)}`);
    }
    console.log('');
  } finally {
    await app.close();
    await db.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

function positive(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

console.log(
  `latency bench: node ${process.version}, ${SAMPLES} samples x ${RUNS} runs per backend`,
);
for (const backend of testBackends()) {
  console.log(`\n${backend}:`);
  await benchBackend(backend);
}
