import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  createOpenAIPlanner,
  defineTool,
  startServer,
  type LogLevel,
  type TransportPreference,
} from '../../src/index.ts';

/**
 * A server as an embedder would write one with the public API: one non-idempotent `payout`
 * tool that needs approval, and the OpenAI planner on OPENAI_BASE_URL. The tool appends its
 * call id to PAYOUT_LOG, then hangs (abortably), so a test can SIGKILL the process mid-call.
 */
const env = process.env;
const payoutLog = env['PAYOUT_LOG'];
const baseUrl = env['OPENAI_BASE_URL'];
if (!payoutLog || !baseUrl) throw new Error('PAYOUT_LOG and OPENAI_BASE_URL are required');

const payout = defineTool({
  name: 'payout',
  description: 'Pays an amount out to a person. Not idempotent.',
  args: z.object({ to: z.string(), amount: z.number().positive() }),
  needsApproval: true,
  idempotent: false,
  async run(args, { signal, callId }) {
    await appendFile(payoutLog, `${callId}\n`);
    await sleep(600_000, undefined, { signal });
    return { paid: args.amount, to: args.to };
  },
});

const tools = [payout];
const handle = await startServer({
  tools,
  // No retries: a second request must show as one, not be hidden behind a backoff.
  planner: createOpenAIPlanner({ baseUrl, model: 'fake-model', tools, maxRetries: 0 }),
  dataDir: env['DATA_DIR'],
  databaseUrl: env['DATABASE_URL'],
  port: Number(env['PORT'] ?? 0),
  host: '127.0.0.1',
  transport: (env['TRANSPORT'] ?? 'auto') as TransportPreference,
  logLevel: (env['LOG_LEVEL'] ?? 'warn') as LogLevel,
  auth: { mode: 'dev' },
});
process.stdout.write(`listening on ${handle.url}\n`);

process.once('SIGTERM', () => {
  handle.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`shutdown failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
