/**
 * A diagnostic server entry for `npm run bench -- --server-entry bench/counting-server.ts`:
 * the same app as src/main.ts, with every Store call counted (printed to stderr when the
 * process stops) and the PostgreSQL pool size taken from BENCH_POOL_MAX (default 10).
 */
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { serverOptionsFromConfig } from '../src/server-options.ts';
import { startApp } from '../src/start-server.ts';
import { openPgliteStore } from '../src/store/pglite-store.ts';
import { openPostgresStore } from '../src/store/postgres-store.ts';
import type { Store } from '../src/store/store.ts';

const config = loadConfig(process.env);
const inner = config.databaseUrl
  ? await openPostgresStore({
      url: config.databaseUrl,
      max: Number(process.env['BENCH_POOL_MAX'] ?? 10),
    })
  : await openPgliteStore({ dataDir: config.dataDir });

const counts = new Map<string, number>();
const store = new Proxy(inner, {
  get(target, property, receiver) {
    const value: unknown = Reflect.get(target, property, receiver);
    if (typeof value !== 'function') return value;
    const name = String(property);
    return (...args: unknown[]): unknown => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return (value as (...a: unknown[]) => unknown).apply(target, args);
    };
  },
}) as Store;

const { databaseUrl: _url, dataDir: _dir, ...options } = serverOptionsFromConfig(config);
const app = await startApp({ ...options, store, logger: pino({ level: config.logLevel }) });
process.stdout.write(`listening on ${app.url}\n`);
process.once('SIGTERM', () => {
  process.stderr.write(`store calls: ${JSON.stringify(Object.fromEntries(counts))}\n`);
  app
    .close()
    .then(() => inner.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
});
