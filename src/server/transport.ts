import type { Logger } from 'pino';
import type { SocketLimits } from './connection.ts';
import type { HttpHandler } from './router.ts';
import type { SocketHub } from './socket-hub.ts';

/** What an adapter maps its transport onto: the core's socket hub and HTTP handler. */
export interface TransportDeps {
  hub: SocketHub;
  http: HttpHandler;
  limits: SocketLimits;
  logger: Logger;
}

/** One running transport (uWS or portable); everything above it is shared. */
export interface Transport {
  readonly name: string;
  /** Sends a text frame to every socket subscribed to the topic. */
  publish(topic: string, text: string): void;
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting connections (open sockets are closed by the hub). */
  close(): void;
}

export const WS_PATH = '/api/v1/ws';
