import { parseArgs } from 'node:util';
import { loadUwsBuild } from '../src/server/uws/uws-build.ts';
import type { Backend } from './server-process.ts';

/**
 * A flow phase. Closed loop: every session starts its next flow as soon as one completes
 * (saturation: throughput, and latency that is mostly queueing). Paced: the sessions share
 * an offered rate of flows, each waiting `sessions / rate` seconds between flows like a
 * person would (latency below saturation).
 */
export interface FlowPhase {
  sessions: number;
  /** Offered flows/s over all sessions; null for closed loop. */
  rate: number | null;
}

export type BenchTransport = 'uws' | 'portable';

export interface BenchConfig {
  backends: Backend[];
  /** Each backend is run on each of these, side by side in one run. */
  transports: BenchTransport[];
  phases: FlowPhase[];
  runs: number;
  durationMs: number;
  idleSockets: number;
  /** Sessions the idle sockets are spread over (creating sessions is the slow part). */
  idleSessions: number;
  workers: number;
  pingMs: number;
  pingWindow: number;
  connectConcurrency: number;
  /** Steps of the one long execution whose bytes per stored event are measured (0 skips). */
  longPlanSteps: number;
  /**
   * The 3-node cluster phase (PostgreSQL and nats-server only): closed-loop flows with each
   * session's socket on its own node and on another, then kill -9 failover.
   */
  cluster: boolean;
  /** Sessions awaiting approval on the node that is killed, per failover run. */
  failoverSessions: number;
  profile: boolean;
  databaseUrl: string | undefined;
  /** Diagnostics: the server's entry file, and PostgreSQL's synchronous_commit for its database. */
  serverEntry: string;
  syncCommit: 'on' | 'off';
}

export const USAGE = `npm run bench -- [options]            (each option also as an env var)
  --sessions 200          closed-loop phases: concurrent sessions     BENCH_SESSIONS
  --paced 1000@50         paced phases: sessions@offered flows/s      BENCH_PACED
  --runs 3                runs per phase; medians are reported        BENCH_RUNS
  --duration 6            seconds of flows per run                    BENCH_DURATION_S
  --idle 10000            idle session sockets (0 skips)              BENCH_IDLE
  --idle-sessions 500     sessions the idle sockets are spread over   BENCH_IDLE_SESSIONS
  --workers 2             load-generating processes                   BENCH_WORKERS
  --ping 2                seconds of pings per run and mode (0 skips) BENCH_PING_S
  --long-plan 1000        steps of one execution, bytes/event (0 skips) BENCH_LONG_PLAN
  --backends pglite,postgres   (postgres needs DATABASE_URL)          BENCH_BACKENDS
  --transports uws,portable    (uws where a build loads)              BENCH_TRANSPORTS
  --cluster 1             3-node cluster phase (0 skips; PostgreSQL   BENCH_CLUSTER
                          and nats-server): closed-loop flows/s on 3
                          nodes vs 1, and kill -9 failover
  --failover-sessions 100 sessions awaiting approval on the killed    BENCH_FAILOVER_SESSIONS
                          node, per failover run
  --profile               run the server under --cpu-prof, summarise  BENCH_PROFILE=1
Lists are comma-separated; an empty list skips the phase (--paced '').
Diagnostics (not the product's settings):
  --sync-commit off       synchronous_commit of the bench database    BENCH_SYNC_COMMIT
  --server-entry FILE     the server's entry file (src/main.ts; bench/counting-server.ts
                          counts Store calls)                         BENCH_SERVER_ENTRY`;

export function readConfig(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string' },
      paced: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      idle: { type: 'string' },
      'idle-sessions': { type: 'string' },
      workers: { type: 'string' },
      ping: { type: 'string' },
      'long-plan': { type: 'string' },
      backends: { type: 'string' },
      transports: { type: 'string' },
      cluster: { type: 'string' },
      'failover-sessions': { type: 'string' },
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
  const list = (text: string) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const backends = list(
    pick(values.backends, 'BENCH_BACKENDS', databaseUrl ? 'pglite,postgres' : 'pglite'),
  );
  for (const backend of backends) {
    if (backend !== 'pglite' && backend !== 'postgres')
      throw new Error(`unknown backend ${backend}`);
    if (backend === 'postgres' && !databaseUrl) throw new Error('postgres needs DATABASE_URL');
  }
  const transports = list(
    pick(values.transports, 'BENCH_TRANSPORTS', loadUwsBuild().build ? 'uws,portable' : 'portable'),
  );
  for (const transport of transports) {
    if (transport !== 'uws' && transport !== 'portable')
      throw new Error(`unknown transport ${transport}`);
  }
  const closed = list(pick(values.sessions, 'BENCH_SESSIONS', '200')).map((n): FlowPhase => ({
    sessions: count(n, 'sessions', 1),
    rate: null,
  }));
  const paced = list(pick(values.paced, 'BENCH_PACED', '1000@50')).map((item): FlowPhase => {
    const [sessions = '', rate = ''] = item.split('@');
    return { sessions: count(sessions, 'paced sessions', 1), rate: count(rate, 'paced rate', 1) };
  });
  return {
    backends: backends as Backend[],
    transports: transports as BenchTransport[],
    phases: [...closed, ...paced],
    runs: count(pick(values.runs, 'BENCH_RUNS', '3'), 'runs', 1),
    durationMs: 1000 * count(pick(values.duration, 'BENCH_DURATION_S', '6'), 'duration', 1),
    idleSockets: count(pick(values.idle, 'BENCH_IDLE', '10000'), 'idle'),
    idleSessions: count(
      pick(values['idle-sessions'], 'BENCH_IDLE_SESSIONS', '500'),
      'idle-sessions',
      1,
    ),
    workers: count(pick(values.workers, 'BENCH_WORKERS', '2'), 'workers', 1),
    pingMs: 1000 * count(pick(values.ping, 'BENCH_PING_S', '2'), 'ping'),
    pingWindow: 64,
    connectConcurrency: 50,
    longPlanSteps: count(pick(values['long-plan'], 'BENCH_LONG_PLAN', '1000'), 'long-plan'),
    cluster: count(pick(values.cluster, 'BENCH_CLUSTER', '1'), 'cluster') > 0,
    failoverSessions: count(
      pick(values['failover-sessions'], 'BENCH_FAILOVER_SESSIONS', '100'),
      'failover-sessions',
      1,
    ),
    profile: values.profile ?? env['BENCH_PROFILE'] === '1',
    databaseUrl,
    serverEntry: pick(values['server-entry'], 'BENCH_SERVER_ENTRY', 'src/main.ts'),
    syncCommit: pick(values['sync-commit'], 'BENCH_SYNC_COMMIT', 'on') === 'off' ? 'off' : 'on',
  };
}

function count(text: string, name: string, min = 0): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value) || value < min) {
    throw new Error(`${name}: not a whole number ≥ ${min}: "${text}"`);
  }
  return value;
}
