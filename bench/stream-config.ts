import { parseArgs } from 'node:util';
import { loadUwsBuild } from '../src/server/uws/uws-build.ts';
import type { BenchTransport } from './config.ts';

export interface StreamBenchConfig {
  transports: BenchTransport[];
  runs: number;
  /** Sequential short executions per run, for the latency percentiles. */
  executions: number;
  /** Sessions (one socket each) the executions go round. */
  sessions: number;
  /** Long answers per run, and as many one-chunk answers for the baseline. */
  answers: number;
  /** Content chunks (one word each) of a long answer. */
  tokens: number;
  /** Pause between a long answer's chunks, ms; 0 writes them back to back. */
  gapMs: number;
}

export const STREAM_USAGE = `npm run bench:stream -- [options]     (each option also as an env var)
  --runs 3                runs per transport; medians are reported   BENCH_RUNS
  --executions 200        short executions per run (latency)         BENCH_STREAM_EXECUTIONS
  --sessions 4            sessions the executions go round           BENCH_STREAM_SESSIONS
  --answers 10            long answers per run (CPU per token)       BENCH_STREAM_ANSWERS
  --tokens 2000           one-word chunks per long answer            BENCH_STREAM_TOKENS
  --gap-ms 0              pause between chunks (0: back to back)     BENCH_STREAM_GAP_MS
  --transports uws,portable    (uws where a build loads)             BENCH_TRANSPORTS
  --transport uws         one transport (same as --transports uws)`;

export function readStreamConfig(argv: string[], env: NodeJS.ProcessEnv): StreamBenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      executions: { type: 'string' },
      sessions: { type: 'string' },
      answers: { type: 'string' },
      tokens: { type: 'string' },
      'gap-ms': { type: 'string' },
      transports: { type: 'string' },
      transport: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(STREAM_USAGE);
    process.exit(0);
  }
  const pick = (arg: string | undefined, name: string, fallback: string) =>
    arg ?? env[name] ?? fallback;
  const transports = pick(
    values.transport ?? values.transports,
    'BENCH_TRANSPORTS',
    loadUwsBuild().build ? 'uws,portable' : 'portable',
  )
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const transport of transports) {
    if (transport !== 'uws' && transport !== 'portable')
      throw new Error(`unknown transport ${transport}`);
  }
  if (transports.length === 0) throw new Error('no transport to run');
  return {
    transports: transports as BenchTransport[],
    runs: count(pick(values.runs, 'BENCH_RUNS', '3'), 'runs', 1),
    executions: count(pick(values.executions, 'BENCH_STREAM_EXECUTIONS', '200'), 'executions', 1),
    sessions: count(pick(values.sessions, 'BENCH_STREAM_SESSIONS', '4'), 'sessions', 1),
    answers: count(pick(values.answers, 'BENCH_STREAM_ANSWERS', '10'), 'answers', 1),
    tokens: count(pick(values.tokens, 'BENCH_STREAM_TOKENS', '2000'), 'tokens', 2),
    gapMs: count(pick(values['gap-ms'], 'BENCH_STREAM_GAP_MS', '0'), 'gap-ms', 0),
  };
}

function count(text: string, name: string, min: number): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value) || value < min) {
    throw new Error(`${name}: not a whole number ≥ ${min}: "${text}"`);
  }
  return value;
}
