import type { Logger } from 'pino';
import type { Authenticator } from '../auth/index.ts';
import type { ClusterView } from './cluster-view.ts';
import type { SessionService } from '../runtime/index.ts';
import { DEFAULT_SOCKET_LIMITS, type SocketLimits } from './connection.ts';
import { createServerMetrics, type ServerMetrics } from './metrics.ts';
import { metricsRoutes } from './metrics-route.ts';
import { createPortableTransport } from './portable/portable-transport.ts';
import { inspectionRoutes } from './inspection-routes.ts';
import { inspectorRoutes } from './inspector-assets.ts';
import { restRoutes } from './rest-routes.ts';
import { createHttpHandler } from './router.ts';
import { createSocketHub } from './socket-hub.ts';
import { chooseTransport, type TransportPreference } from './transport-choice.ts';
import type { Transport } from './transport.ts';
import { createUwsTransport } from './uws/uws-transport.ts';
import { createUserLimiter, DEFAULT_USER_LIMITS, type UserLimits } from './user-limits.ts';

export interface ServerDeps {
  runtime: SessionService;
  auth: Authenticator;
  logger: Logger;
  limits?: Partial<ServerLimits>;
  /** `auto` (default): uWS where a build loads, else portable, saying so in the log. */
  transport?: TransportPreference;
  /**
   * The server's metrics registry, when the runtime was given its `observer`; default: one of
   * its own (without the runtime's commit and stored-event counts).
   */
  metrics?: ServerMetrics;
  /** With jwt auth, the bearer token `GET /metrics` requires; unset: no `/metrics` route. */
  metricsToken?: string | undefined;
  /** Cluster mode: this node, for /readyz and /metrics. */
  cluster?: ClusterView | undefined;
}

/** Every limit of the server: per socket, and per user across their sockets and requests. */
export type ServerLimits = SocketLimits & UserLimits;

export interface Server {
  /** `uws-20.57`, `uws-20.30` or `portable`. */
  readonly transport: string;
  listen(host: string, port: number): Promise<number>;
  connections(): number;
  /** Stops accepting, closes every socket with 1001. */
  close(): void;
}

/** The transport-free core (socket hub, REST routes) on the transport chosen at start. */
export function createServer(deps: ServerDeps): Server {
  const { runtime, auth, logger } = deps;
  const limits = { ...DEFAULT_SOCKET_LIMITS, ...DEFAULT_USER_LIMITS, ...deps.limits };
  const users = createUserLimiter(limits);
  const choice = chooseTransport(deps.transport ?? 'auto');
  logger.info({ transport: choice.kind === 'uws' ? choice.build.name : 'portable' }, choice.notice);

  let closing = false;
  let transport: Transport | null = null;
  const metrics = deps.metrics ?? createServerMetrics();
  const hub = createSocketHub({
    runtime,
    auth,
    logger,
    limits,
    users,
    userLimits: limits,
    publish: (topic, text) => transport?.publish(topic, text),
    meter: metrics.meter,
  });
  const rest = restRoutes({
    runtime,
    auth,
    users,
    cluster: deps.cluster,
    isReady: async () => {
      if (closing) return false;
      if (deps.cluster && !deps.cluster.ready()) return false;
      try {
        await runtime.store.ping();
        return true;
      } catch {
        return false;
      }
    },
  });
  const routes = [
    ...rest,
    ...inspectionRoutes({ runtime, auth }),
    ...inspectorRoutes(auth.mode),
    ...metricsRoutes({ metrics, authMode: auth.mode, token: deps.metricsToken }),
  ];
  const http = createHttpHandler(routes, logger, metrics.meter);
  const transportDeps = { hub, http, limits, logger };
  const running =
    choice.kind === 'uws'
      ? createUwsTransport(choice.build, transportDeps)
      : createPortableTransport(transportDeps);
  transport = running;
  metrics.bind({
    runtime,
    transport: () => running.name,
    socketsOpen: () => hub.connections(),
    cluster: deps.cluster,
  });

  return {
    transport: running.name,
    listen: (host, port) => running.listen(host, port),
    connections: () => hub.connections(),
    close() {
      closing = true;
      running.close();
      hub.closeAll();
    },
  };
}
