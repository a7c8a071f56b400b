import type { SessionState } from '../../machines/session.types.ts';
import type { OutboundEvent, OutboundOf, OutboundType } from '../protocol/outbound.ts';
import type { ReconnectOptions } from './backoff.ts';
import type { SessionClientError } from './errors.ts';
import type { EventHandler, EventHandlers } from './handlers.ts';
import type { SessionCommands } from './commands.ts';
import type { TransportFactory } from './transport.ts';

export type ClientStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface SessionClientOptions {
  /**
   * The server: `http://host:port` (or `ws://`, or the full `/api/v1/ws` URL); a function is
   * asked again on every reconnect (another node, a new port after a restart).
   */
  url: string | (() => string | Promise<string>);
  sessionId: string;
  /** A JWT, or a function returning a fresh one for every (re)connect. */
  token?: string | (() => string | Promise<string>);
  /** Replay the stored events after this seq on connect (0: the whole log). */
  lastSeq?: number;
  /** Backoff for reconnecting after an unexpected close; `false` closes the client instead. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Default time limit of calls and `waitFor` (ms). */
  timeoutMs?: number;
  /** Time limit of one connection attempt (ms). */
  connectTimeoutMs?: number;
  /** Handlers registered before the first frame arrives (they see the replay). */
  on?: EventHandlers;
  /** A handler threw, or the server sent a frame that is not a valid v1 event. */
  onError?: (error: unknown) => void;
  /** How sockets are opened; the default picks the global WebSocket or `ws`. */
  transport?: TransportFactory;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Also accept a stored event that already arrived, with seq above this one. */
  since?: number;
}

export interface SessionClient extends SessionCommands {
  readonly sessionId: string;
  readonly status: ClientStatus;
  /** The seq of the last stored event handed to the handlers (the resume point). */
  readonly lastSeq: number;
  /** The session's state after that event, or as `connected` reported it. */
  readonly state: SessionState | null;
  /** Who the server says we are (from `connected`). */
  readonly userId: string | null;
  /** Resolves once connected and caught up with the stored events. */
  connect(): Promise<void>;
  on<T extends OutboundType>(type: T, handler: EventHandler<T>): () => void;
  onAny(handler: (event: OutboundEvent) => void): () => void;
  onStatus(listener: (status: ClientStatus) => void): () => void;
  /** The next event of this type (that the predicate accepts). */
  waitFor<T extends OutboundType>(
    type: T,
    predicate?: (event: OutboundOf<T>) => boolean,
    options?: number | WaitOptions,
  ): Promise<OutboundOf<T>>;
  /** Closes for good: pending calls and waiters reject with `closed`. */
  close(): Promise<void>;
  /** Resolves with the reason once the client is closed for good. */
  readonly closed: Promise<SessionClientError>;
}
