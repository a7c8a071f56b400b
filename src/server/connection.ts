import type { Logger } from 'pino';
import type { Principal } from '../auth/index.ts';
import type { SessionView } from '../runtime/index.ts';

/** What the core keeps per socket; adapters hold it and never read it. */
export interface SocketState {
  id: number;
  principal: Principal;
  session: SessionView;
  afterSeq: number | null;
  log: Logger;
  closed: boolean;
  /** Set once the replay is done and the socket receives the session's topic instead. */
  live: boolean;
  /** Set once `connected` is sent; frames that came before wait in `early`. */
  ready: boolean;
  early: { bytes: Uint8Array; isBinary: boolean }[];
  unsubscribe: (() => void) | null;
  /** Messages refused for the rate since `refusedSince` (ms): past 10× the rate, it is closed. */
  refused: number;
  refusedSince: number;
  /** Closes the socket with 4001 when its token expires. */
  expiry: ReturnType<typeof setTimeout> | null;
  /** Lets go of the session: while a socket holds it, it is never passivated. */
  release: (() => void) | null;
}

/**
 * One accepted socket as the core sees it. An adapter implements it over its transport and
 * must make every method a no-op once the socket has closed.
 */
export interface Connection {
  readonly state: SocketState;
  /** Queues a text frame; past the backpressure limit the adapter drops the socket (1006). */
  send(text: string): void;
  /** Closes with a close frame. */
  end(code: number, reason: string): void;
  /** Drops the connection without a close frame (the client sees 1006). */
  drop(): void;
  /** Bytes queued for this socket and not yet written to the network. */
  bufferedAmount(): number;
  /** Joins a topic: every later `publish` to it reaches this socket. */
  subscribe(topic: string): void;
  /** Batches the sends inside `fn` into as few writes as the transport allows. */
  cork(fn: () => void): void;
}

export interface SocketLimits {
  maxConnections: number;
  /** A larger message is answered with `message_too_large`; the connection stays open. */
  maxMessageBytes: number;
  /**
   * A frame larger than this is refused by the transport before any handler runs, with the
   * connection (uWS drops it: the client sees 1006; the portable transport sends 1009).
   */
  maxPayloadLength: number;
  /** Per-socket send buffer; a client that stops reading past it is disconnected (1006). */
  maxBackpressure: number;
  /** Seconds without traffic before a socket is closed; the server pings well before that. */
  idleTimeout: number;
  /**
   * A replay sends while the client reads (it waits whenever the send buffer is half full),
   * and drops a client that has read nothing for this long.
   */
  replayStallMs: number;
}

export const DEFAULT_SOCKET_LIMITS: SocketLimits = {
  maxConnections: 100_000,
  maxMessageBytes: 64 * 1024,
  maxPayloadLength: 1024 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 60,
  replayStallMs: 10_000,
};
