import { parseArgs } from 'node:util';
import type { Backend } from './server-process.ts';

export interface BenchConfig {
  backends: Backend[];
  /** Concurrent sessions of each flow phase. */
  sessions: number[];
  runs: number;
  durationMs: number;
  idleSockets: number;
  workers: number;
  pingMs: number;
  pingWindow: number;
  connectConcurrency: number;
  profile: boolean;
  databaseUrl: string | undefined;
  /** Diagnostics: the server's entry file, and PostgreSQL's synchronous_commit for its database. */
  serverEntry: string;
  syncCommit: 'on' | 'off';
}

export const USAGE = `npm run bench -- [options]          (every option also as an env var)
  --sessions 200,1000   concurrent sessions per flow phase      BENCH_SESSIONS
  --runs 3              runs per phase; medians are reported     BENCH_RUNS
  --duration 6          seconds of flows per run                 BENCH_DURATION_S
  --idle 10000          idle session sockets (0 skips)           BENCH_IDLE
  --workers 2           load-generating processes                BENCH_WORKERS
  --ping 3              seconds of pings per run (0 skips)       BENCH_PING_S
  --backends pglite,postgres  (postgres needs DATABASE_URL)      BENCH_BACKENDS
  --profile             run the server under --cpu-prof and summarise it  BENCH_PROFILE=1
diagnostics (not the product's settings):
  --sync-commit off     synchronous_commit for the bench database  BENCH_SYNC_COMMIT
  --server-entry FILE   the server's entry file (default src/main.ts)  BENCH_SERVER_ENTRY`;

export function readConfig(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      idle: { type: 'string' },
      workers: { type: 'string' },
      ping: { type: 'string' },
      backends: { type: 'string' },
      profile: { type: 'boolean' },
      'sync-commit': { type: 'string' },
      'server-entry': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const databaseUrl = env['DATABASE_URL'] || undefined;
  const pick = (arg: string | undefined, name: string, fallback: string) =>
    arg ?? env[name] ?? fallback;
  const count = (text: string, name: string, min = 0) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`${name}: not a whole number ≥ ${min}: ${text}`);
    return value;
  };
  const backends = pick(
    values.backends,
    'BENCH_BACKENDS',
    databaseUrl ? 'pglite,postgres' : 'pglite',
  )
    .split(',')
    .map((b) => b.trim());
  for (const backend of backends) {
    if (backend !== 'pglite' && backend !== 'postgres')
      throw new Error(`unknown backend ${backend}`);
    if (backend === 'postgres' && !databaseUrl) throw new Error('postgres needs DATABASE_URL');
  }
  return {
    backends: backends as Backend[],
    sessions: pick(values.sessions, 'BENCH_SESSIONS', '200,1000')
      .split(',')
      .map((n) => count(n, 'sessions', 1)),
    runs: count(pick(values.runs, 'BENCH_RUNS', '3'), 'runs', 1),
    durationMs: 1000 * count(pick(values.duration, 'BENCH_DURATION_S', '6'), 'duration', 1),
    idleSockets: count(pick(values.idle, 'BENCH_IDLE', '10000'), 'idle'),
    workers: count(pick(values.workers, 'BENCH_WORKERS', '2'), 'workers', 1),
    pingMs: 1000 * count(pick(values.ping, 'BENCH_PING_S', '3'), 'ping'),
    pingWindow: 64,
    connectConcurrency: 50,
    profile: values.profile ?? env['BENCH_PROFILE'] === '1',
    databaseUrl,
    serverEntry: pick(values['server-entry'], 'BENCH_SERVER_ENTRY', 'src/main.ts'),
    syncCommit: pick(values['sync-commit'], 'BENCH_SYNC_COMMIT', 'on') === 'off' ? 'off' : 'on',
  };
}
