import uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/index.ts';
import type { SessionRuntime } from '../runtime/index.ts';
import { jsonRoute } from './http.ts';
import { assertNativeUws } from './native-uws.ts';
import { registerRestRoutes } from './rest-routes.ts';
import { DEFAULT_SOCKET_LIMITS, registerWsRoute, type SocketLimits } from './ws-route.ts';
import { AppError } from '../errors.ts';

export interface ServerDeps {
  runtime: SessionRuntime;
  auth: Authenticator;
  logger: Logger;
  limits?: Partial<SocketLimits>;
}

export interface Server {
  listen(host: string, port: number): Promise<number>;
  connections(): number;
  /** Stops accepting, closes every socket with 1001. */
  close(): void;
}

export function createServer(deps: ServerDeps): Server {
  assertNativeUws();
  const { runtime, auth, logger } = deps;
  const app = uWS.App();
  let listenSocket: uWS.us_listen_socket | null = null;
  let closing = false;

  const ws = registerWsRoute(app, {
    runtime,
    auth,
    logger,
    limits: { ...DEFAULT_SOCKET_LIMITS, ...deps.limits },
  });
  registerRestRoutes(app, {
    runtime,
    auth,
    logger,
    isReady: async () => {
      if (closing) return false;
      try {
        await runtime.store.ping();
        return true;
      } catch {
        return false;
      }
    },
  });

  // Known paths with another method -> 405; anything else -> 404. Both in JSON.
  const known = [
    '/api/v1/sessions',
    '/api/v1/sessions/:id',
    '/api/v1/sessions/:id/events',
    '/api/v1/approvals',
    '/api/v1/approvals/:id/:decision',
    '/healthz',
    '/readyz',
  ];
  for (const path of known) {
    app.any(
      path,
      jsonRoute(logger, 0, (request) =>
        Promise.reject(
          new AppError(
            'method_not_allowed',
            `${request.method} is not allowed on ${request.url}`,
            405,
          ),
        ),
      ),
    );
  }
  app.any(
    '/*',
    jsonRoute(logger, 0, (request) =>
      Promise.reject(new AppError('not_found', `no route ${request.url}`, 404)),
    ),
  );

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
          listenSocket = socket;
          resolve(uWS.us_socket_local_port(socket));
        });
      });
    },
    connections: () => ws.connections(),
    close() {
      closing = true;
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
      ws.closeAll();
    },
  };
}
