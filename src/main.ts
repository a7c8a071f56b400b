import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import {
  createBuiltinPlanner,
  createBuiltinTools,
  createLedger,
  createToolRegistry,
  type Ledger,
} from './agent/index.ts';
import type { Planner } from './agent/planner.ts';
import { createAuthenticator, type AuthConfig } from './auth/index.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { createSessionRuntime, type Clock, type SessionRuntime } from './runtime/index.ts';
import { createServer, type SocketLimits } from './server/index.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** A store opened by the caller (tests share one); otherwise opened from the config. */
  store?: Store;
  clock?: Clock;
  planner?: Planner;
  ledger?: Ledger;
  limits?: Partial<SocketLimits>;
  auth?: Partial<AuthConfig>;
}

export interface App {
  port: number;
  /** The transport serving it: `uws-20.57`, `uws-20.30` or `portable`. */
  transport: string;
  url: string;
  runtime: SessionRuntime;
  store: Store;
  ledger: Ledger;
  logger: Logger;
  /** Stops accepting, closes sockets with 1001, stops the actors, flushes and closes the store. */
  close(): Promise<void>;
}

/** The composition root: the one place where modules are wired together. */
export async function startApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  if (config.authMode === 'dev') {
    if (!LOOPBACK.has(config.host)) {
      throw new ConfigError(
        `AUTH_MODE=dev is refused on a non-loopback HOST (${config.host}); set AUTH_MODE=jwt`,
      );
    }
    logger.warn(
      'AUTH_MODE=dev: no authentication, every caller is user "dev". Never expose this server.',
    );
  }
  const auth = createAuthenticator({
    mode: config.authMode,
    secret: config.jwtSecret,
    jwksUrl: config.jwksUrl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ...options.auth,
  });
  const ownStore = !options.store;
  const store =
    options.store ??
    (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const ledger = options.ledger ?? createLedger();
  const runtime = createSessionRuntime({
    store,
    planner: options.planner ?? createBuiltinPlanner(),
    registry: createToolRegistry(createBuiltinTools(ledger)),
    logger,
    approvalTtlMs: config.approvalTtlMs,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const restored = await runtime.restoreActive();
  const server = createServer({
    runtime,
    auth,
    logger,
    limits: { maxConnections: config.maxConnections, ...options.limits },
    transport: config.transport,
  });
  const port = await server.listen(config.host, config.port);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  logger.info(
    { url, store: store.kind, auth: config.authMode, transport: server.transport, restored },
    'listening',
  );

  let closed: Promise<void> | null = null;
  return {
    port,
    transport: server.transport,
    url,
    runtime,
    store,
    ledger,
    logger,
    close() {
      closed ??= (async () => {
        server.close();
        await runtime.close();
        if (ownStore) await store.close();
      })();
      return closed;
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let app: App;
  try {
    app = await startApp({ config, logger });
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    process.stderr.write(
      `cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(
    `\nHITL runtime listening on ${app.url}\n` +
      `Try it:  curl -s -X POST ${app.url}/api/v1/sessions\n` +
      `then:    npx wscat -c "${app.url.replace('http', 'ws')}/api/v1/ws?session_id=<id>"  and send {"type":"execute","command":"transfer 250 USD to alice"}\n\n`,
  );
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
