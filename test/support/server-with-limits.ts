/**
 * `src/main.ts` with socket limits from SOCKET_LIMITS (JSON, e.g. `{"maxBackpressure":65536}`):
 * the environment reaches only the per-user limits, and a test of a limit needs a server
 * process of its own (its memory measured alone) with a small one.
 *
 * On SIGUSR2 it runs a full garbage collection and prints `live memory <heapUsed> <external>`:
 * what the process still holds, without the garbage that RSS also counts.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { ServerLimits } from '../../src/server/index.ts';
import { serverOptionsFromConfig } from '../../src/server-options.ts';
import { startApp } from '../../src/start-server.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const config = loadConfig(process.env);
const limits = JSON.parse(process.env['SOCKET_LIMITS'] ?? '{}') as Partial<ServerLimits>;
const options = serverOptionsFromConfig(config);
const app = await startApp({
  ...options,
  limits: { ...options.limits, ...limits },
  logger: createLogger(config.logLevel),
});
process.stdout.write(`listening on ${app.url}\n`);
process.on('SIGUSR2', () => {
  gc();
  const { heapUsed, external } = process.memoryUsage();
  process.stdout.write(`live memory ${heapUsed} ${external}\n`);
});
process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
