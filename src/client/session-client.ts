import type { SessionState } from '../../machines/session.types.ts';
import { inboundMessageSchema } from '../protocol/inbound.ts';
import {
  outboundEventSchema,
  type OutboundEvent,
  type OutboundOf,
  type OutboundType,
} from '../protocol/outbound.ts';
import { backoffDelay, DEFAULT_RECONNECT } from './backoff.ts';
import { createCallTable } from './calls.ts';
import { createCommands, type CallSender } from './commands.ts';
import { SessionClientError } from './errors.ts';
import { arrivalOf } from './event-order.ts';
import { createEventWaiters, createHandlerRegistry, type EventHandler } from './handlers.ts';
import type {
  ClientStatus,
  SessionClient,
  SessionClientOptions,
  WaitOptions,
} from './session-client.types.ts';
import { defaultTransport, type Transport } from './transport.ts';

export type {
  ClientStatus,
  SessionClient,
  SessionClientOptions,
  WaitOptions,
} from './session-client.types.ts';

/** Connects, waits until caught up with the stored events, and returns the client. */
export async function connectSession(options: SessionClientOptions): Promise<SessionClient> {
  const client = createSessionClient(options);
  await client.connect();
  return client;
}

/**
 * A client for one session. Every event reaches the handlers once, in seq order, across
 * reconnects: the client resumes with `last_seq` and drops what it has already delivered.
 */
export function createSessionClient(options: SessionClientOptions): SessionClient {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const reconnect =
    options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...options.reconnect };
  const openTransport = options.transport ?? defaultTransport;
  const report =
    options.onError ??
    ((error: unknown) =>
      queueMicrotask(() => {
        throw error;
      }));
  const handlers = createHandlerRegistry(report);
  const waiters = createEventWaiters();
  const calls = createCallTable(timeoutMs);
  const statusListeners = new Set<(status: ClientStatus) => void>();
  for (const [type, handler] of Object.entries(options.on ?? {})) {
    handlers.on(type as OutboundType, handler as EventHandler<OutboundType>);
  }

  let status: ClientStatus = 'idle';
  let transport: Transport | null = null;
  let connection = 0;
  let lastSeq: number | null = options.lastSeq ?? null;
  let state: SessionState | null = null;
  let sawStored = false;
  let userId: string | null = null;
  /** The `last_seq` that `connected` reported, until the replay reaches it. */
  let catchUpTo: number | null = null;
  /** A hole in the stream causes one resync; if the log itself has it, it is accepted. */
  let resyncedFor: number | null = null;
  /** The connection a resync is closing: frames it still delivers are not read. */
  let abandoned = 0;
  let attempts = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let nextId = 0;
  const idPrefix = Math.random().toString(36).slice(2, 8);
  let firstConnect: { resolve(): void; reject(error: unknown): void } | null = null;
  let connecting: Promise<void> | null = null;
  let resolveClosed!: (error: SessionClientError) => void;
  const closed = new Promise<SessionClientError>((resolve) => (resolveClosed = resolve));
  let socketGone: (() => void) | null = null;

  function setStatus(next: ClientStatus): void {
    if (status === next) return;
    status = next;
    for (const listener of [...statusListeners]) {
      try {
        listener(next);
      } catch (error) {
        report(error);
      }
    }
  }

  async function open(): Promise<void> {
    const mine = ++connection;
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    const base = typeof options.url === 'function' ? await options.url() : options.url;
    // finish() moves `connection` on, so a closed client never adopts a late socket.
    if (mine !== connection) return;
    const opened = await openTransport({
      url: socketUrl(base, options.sessionId, lastSeq),
      token,
      timeoutMs: options.connectTimeoutMs ?? 10_000,
      events: {
        message: (text) =>
          nextTask(() => {
            if (mine === connection && mine !== abandoned) onFrame(text);
          }),
        close: (code, reason) =>
          nextTask(() => {
            if (mine === connection) onClose(code, reason);
            else socketGone?.();
          }),
      },
    });
    if (mine !== connection) return opened.close(1000, 'client closed');
    transport = opened;
  }

  function onFrame(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return report(new SessionClientError('invalid_event', 'the server sent a non-JSON frame'));
    }
    const parsed = outboundEventSchema.safeParse(value);
    if (!parsed.success) return onInvalid(value, parsed.error.message);
    const event = parsed.data;
    if (event.type === 'connected') return onConnected(event);
    switch (arrivalOf(event, lastSeq ?? 0)) {
      case 'reply':
        if (event.type === 'error') calls.onError(event);
        else calls.onEvent(event, state);
        return deliver(event, false);
      case 'duplicate':
        return;
      case 'gap':
        if (resyncedFor !== (lastSeq ?? 0) + 1) return resync();
        return onStored(event);
      case 'next':
        return onStored(event);
    }
  }

  /** An event this client cannot read still takes its place in the stream. */
  function onInvalid(value: unknown, detail: string): void {
    const seq = (value as { seq?: unknown } | null)?.seq;
    if (typeof seq === 'number' && lastSeq !== null && seq === lastSeq + 1) lastSeq = seq;
    report(new SessionClientError('invalid_event', `the server sent an invalid event: ${detail}`));
  }

  function onConnected(event: OutboundOf<'connected'>): void {
    userId = event.data.user_id;
    lastSeq ??= event.data.last_seq;
    if (!sawStored) state = event.data.state;
    catchUpTo = event.data.last_seq;
    deliver(event, false);
    if (lastSeq >= catchUpTo) caughtUp();
  }

  function onStored(event: OutboundEvent): void {
    const before = state;
    lastSeq = event.seq;
    state = event.state;
    sawStored = true;
    calls.onEvent(event, before);
    deliver(event, true);
    if (catchUpTo !== null && lastSeq >= catchUpTo) caughtUp();
  }

  function deliver(event: OutboundEvent, stored: boolean): void {
    handlers.emit(event);
    waiters.offer(event, stored);
  }

  function caughtUp(): void {
    catchUpTo = null;
    attempts = 0;
    setStatus('open');
    calls.settleLost();
    flush();
    firstConnect?.resolve();
    firstConnect = null;
  }

  function flush(): void {
    if (status !== 'open' || catchUpTo !== null || !transport) return;
    for (const call of calls.unsent()) {
      transport.send(call.frame);
      call.markSent(connection);
    }
  }

  function resync(): void {
    resyncedFor = (lastSeq ?? 0) + 1;
    // What the closing socket has still queued would be read as the log's own hole.
    abandoned = connection;
    transport?.close(4000, 'resync');
  }

  function onClose(code: number, reason: string): void {
    transport = null;
    catchUpTo = null;
    if (status === 'closed') return;
    calls.connectionLost(connection);
    if (firstConnect) {
      return finish(new SessionClientError('connect_failed', `closed before connected (${code})`));
    }
    retry(new SessionClientError('closed', `connection closed (${code} ${reason})`.trim()));
  }

  function retry(cause: SessionClientError): void {
    if (!reconnect) return finish(cause);
    if (attempts >= reconnect.maxAttempts) {
      return finish(new SessionClientError('closed', `gave up after ${attempts} reconnects`));
    }
    setStatus('reconnecting');
    const delay = backoffDelay(attempts, reconnect);
    attempts += 1;
    retryTimer = setTimeout(() => {
      open().catch((error: unknown) => {
        const failure = asClientError(error);
        if (isPermanent(failure, typeof options.token === 'function')) finish(failure);
        else retry(failure);
      });
    }, delay);
  }

  function finish(error: SessionClientError): void {
    if (status === 'closed') return;
    setStatus('closed');
    connection += 1;
    clearTimeout(retryTimer);
    transport?.close(1000, 'client closed');
    transport = null;
    calls.failAll(error);
    waiters.failAll(error);
    firstConnect?.reject(error);
    firstConnect = null;
    resolveClosed(error);
  }

  const call: CallSender = (message, retryPolicy, settles) => {
    if (status === 'closed') {
      return Promise.reject(new SessionClientError('closed', 'the client is closed'));
    }
    const checked = inboundMessageSchema.safeParse(message);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      const detail = `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`;
      return Promise.reject(new SessionClientError('invalid_message', `${message.type} ${detail}`));
    }
    const id = message.id ?? '';
    const promise = calls.add({ id, frame: JSON.stringify(message), retry: retryPolicy, settles });
    flush();
    return promise;
  };

  const newId = () => `${idPrefix}.${++nextId}`;

  return {
    sessionId: options.sessionId,
    get status() {
      return status;
    },
    get lastSeq() {
      return lastSeq ?? 0;
    },
    get state() {
      return state;
    },
    get userId() {
      return userId;
    },
    closed,

    connect() {
      if (connecting) return connecting;
      if (status === 'closed') return Promise.reject(new SessionClientError('closed', 'closed'));
      setStatus('connecting');
      connecting = new Promise<void>((resolve, reject) => {
        firstConnect = { resolve, reject };
      });
      open().catch((error: unknown) => finish(asClientError(error)));
      return connecting;
    },

    on: (type, handler) => handlers.on(type, handler),
    onAny: (handler) => handlers.onAny(handler),
    onStatus(listener) {
      statusListeners.add(listener);
      return () => void statusListeners.delete(listener);
    },

    ...createCommands(call, newId, () => userId),

    waitFor<T extends OutboundType>(
      type: T,
      predicate?: (event: OutboundOf<T>) => boolean,
      waitOptions?: number | WaitOptions,
    ): Promise<OutboundOf<T>> {
      if (status === 'closed') return Promise.reject(new SessionClientError('closed', 'closed'));
      const opts = typeof waitOptions === 'number' ? { timeoutMs: waitOptions } : waitOptions;
      const matches = (event: OutboundEvent) =>
        event.type === type && (!predicate || predicate(event as OutboundOf<T>));
      return waiters.wait(matches, opts?.timeoutMs ?? timeoutMs, opts?.since, type) as Promise<
        OutboundOf<T>
      >;
    },

    close() {
      const socket = transport;
      const gone = socket
        ? new Promise<void>((resolve) => {
            socketGone = resolve;
            setTimeout(resolve, 1_000).unref?.();
          })
        : Promise.resolve();
      finish(new SessionClientError('closed', 'the client was closed'));
      return gone;
    },
  };
}

/**
 * One task per frame, as browsers dispatch them. `ws` emits every frame of a TCP read at
 * once; without this, `await client.execute(...)` would resume after the events that
 * followed `thinking` in the same read, and a `waitFor` made then would miss them.
 */
const nextTask: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => fn();

/** The socket URL for a session, from a server base URL (http, https, ws or wss). */
export function socketUrl(base: string, sessionId: string, lastSeq: number | null): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (!url.pathname.endsWith('/api/v1/ws')) {
    url.pathname = `${url.pathname.replace(/\/$/, '')}/api/v1/ws`;
  }
  url.searchParams.set('session_id', sessionId);
  if (lastSeq !== null) url.searchParams.set('last_seq', String(lastSeq));
  else url.searchParams.delete('last_seq');
  return url.toString();
}

function asClientError(error: unknown): SessionClientError {
  if (error instanceof SessionClientError) return error;
  return new SessionClientError(
    'connect_failed',
    error instanceof Error ? error.message : String(error),
  );
}

/** Refusals that another attempt cannot fix (an expired token can, when we can fetch one). */
function isPermanent(error: SessionClientError, canRefreshToken: boolean): boolean {
  if (error.status === 400 || error.status === 404) return true;
  return (error.status === 401 || error.status === 403) && !canRefreshToken;
}
