import type { Logger } from 'pino';
import { createBuiltinPlanner } from './agent/builtin-planner.ts';
import { builtinTools } from './agent/builtin-tools.ts';
import { createToolRegistry } from './agent/tool-registry.ts';
import { createAuthenticator } from './auth/index.ts';
import { ConfigError } from './config.ts';
import { createLogger } from './logger.ts';
import { createSessionRuntime, type SessionRuntime } from './runtime/index.ts';
import { createServer, createServerMetrics } from './server/index.ts';
import { resolveServerOptions, type ServerOptions } from './server-options.ts';
import { joinCluster, type JoinedCluster } from './cluster/join-cluster.ts';
import { openStore } from './store/open-store.ts';
import type { SqlStore } from './store/sql-store.ts';
import type { Store } from './store/store.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** What `startServer` resolves with. */
export interface ServerHandle {
  /** `http://host:port`; the socket is `ws://host:port/api/v1/ws`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, closes sockets with 1001, stops the actors, flushes and closes the store. */
  close(): Promise<void>;
}

/** The handle with the parts inside it: for this package's own tests and tools, not public. */
export interface App extends ServerHandle {
  /** The transport serving it: `uws-20.57`, `uws-20.30` or `portable`. */
  readonly transport: string;
  readonly runtime: SessionRuntime;
  readonly store: Store;
  readonly logger: Logger;
}

/**
 * Starts the runtime: validates the tools, opens the store, restores the sessions that were
 * mid-flight and listens. Rejects (InvalidToolError, ConfigError, a store error) without
 * leaving anything open.
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerHandle> {
  const app = await startApp(options);
  return { url: app.url, port: app.port, close: () => app.close() };
}

/** The composition root: the one place where modules are wired together. */
export async function startApp(options: ServerOptions = {}): Promise<App> {
  const resolved = resolveServerOptions(options);
  const registry = createToolRegistry(
    options.tools ?? builtinTools(),
    options.approvalPolicies ?? {},
  );
  const logger = options.logger ?? createLogger(resolved.logLevel);
  if (resolved.auth.mode === 'dev') {
    if (!LOOPBACK.has(resolved.host)) {
      throw new ConfigError(
        `AUTH_MODE=dev (auth mode "dev") is refused on a non-loopback host (${resolved.host}); use jwt auth`,
      );
    }
    logger.warn(
      'AUTH_MODE=dev: no authentication, every caller is user "dev". Never expose this server.',
    );
  }
  const auth = createAuthenticator(resolved.auth);
  const ownStore = !options.store;
  const { cluster } = resolved;
  // Cluster nodes share the database: no lock of one server per schema, a node row each.
  const store =
    options.store ??
    (await openStore({
      ...resolved,
      logger,
      serverLockWaitMs: cluster ? undefined : resolved.dbLockWaitMs,
    }));
  let runtime: SessionRuntime | undefined;
  let server: ReturnType<typeof createServer> | undefined;
  let joined: JoinedCluster | undefined;
  try {
    if (cluster) {
      joined = await joinCluster({
        settings: cluster,
        databaseUrl: resolved.databaseUrl ?? '',
        store: store as SqlStore,
        logger,
      });
    }
    const metrics = createServerMetrics();
    runtime = createSessionRuntime({
      store,
      planner: options.planner ?? createBuiltinPlanner(),
      registry,
      logger,
      approvalTtlMs: resolved.approvalTtlMs,
      passivateAfterMs: resolved.passivateAfterMs,
      observe: metrics.observer,
      placement: joined?.node.placement,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    const service = joined ? joined.serve(runtime) : runtime;
    const restored = await service.restoreActive();
    server = createServer({
      runtime: service,
      cluster: joined,
      auth,
      logger,
      limits: options.limits ?? {},
      transport: resolved.transport,
      metrics,
      metricsToken: resolved.metricsToken,
    });
    const port = await server.listen(resolved.host, resolved.port);
    const running = { server, runtime };
    const host = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
    const url = `http://${host}:${port}`;
    const tools = registry.list().map((t) => t.name);
    const transport = server.transport;
    logger.info(
      {
        url,
        store: store.kind,
        auth: resolved.auth.mode,
        transport,
        restored,
        tools,
        ...(joined ? { node: joined.node.nodeId } : {}),
      },
      'listening',
    );

    let closed: Promise<void> | null = null;
    return {
      port,
      url,
      transport,
      runtime,
      store,
      logger,
      close() {
        closed ??= (async () => {
          running.server.close();
          await running.runtime.close();
          await joined?.close();
          if (ownStore) await store.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    server?.close();
    await runtime?.close();
    await joined?.close();
    if (ownStore) await store.close();
    throw error;
  }
}
