import uWS, { type TemplatedApp, type WebSocket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { canAccess, type Authenticator, type Principal } from '../auth/index.ts';
import { AppError, toWireError } from '../errors.ts';
import { decodeInbound } from '../protocol/codec.ts';
import type { OutboundEvent, OutboundOf } from '../protocol/outbound.ts';
import type { SessionHost, SessionRuntime } from '../runtime/index.ts';
import { bearerToken, statusLine } from './http.ts';

export interface SocketLimits {
  maxConnections: number;
  /** A larger message is answered with `message_too_large`; the connection stays open. */
  maxMessageBytes: number;
  /**
   * A frame larger than this is dropped by uWS before any handler runs, with the connection
   * (no close frame: the client sees 1006).
   */
  maxPayloadLength: number;
  /** Per-socket send buffer; a client that stops reading past it is disconnected. */
  maxBackpressure: number;
  /** Seconds without traffic before a socket is closed; uWS pings well before that. */
  idleTimeout: number;
}

export const DEFAULT_SOCKET_LIMITS: SocketLimits = {
  maxConnections: 100_000,
  maxMessageBytes: 64 * 1024,
  maxPayloadLength: 1024 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 60,
};

interface SocketData {
  id: number;
  principal: Principal;
  session: SessionHost;
  afterSeq: number | null;
  log: Logger;
  closed: boolean;
  /** Set once the replay is done and the socket receives the session's topic instead. */
  live: boolean;
  /** Set once `connected` is sent; frames that came before wait in `early`. */
  ready: boolean;
  early: { bytes: Uint8Array; isBinary: boolean }[];
  unsubscribe: (() => void) | null;
}

export interface WsRoute {
  connections(): number;
  /** Closes every socket with 1001 (going away). */
  closeAll(): void;
}

const topicOf = (sessionId: string) => `session/${sessionId}`;

export function registerWsRoute(
  app: TemplatedApp,
  deps: { runtime: SessionRuntime; auth: Authenticator; logger: Logger; limits: SocketLimits },
): WsRoute {
  const { runtime, auth, logger, limits } = deps;
  const sockets = new Set<WebSocket<SocketData>>();
  const publishers = new Map<string, Promise<() => void>>();
  let pendingUpgrades = 0;
  let nextId = 1;

  /** One broadcast per session: every live socket of it is subscribed to its topic. */
  function ensurePublisher(session: SessionHost): void {
    if (publishers.has(session.id)) return;
    const topic = topicOf(session.id);
    publishers.set(
      session.id,
      session.subscribe(
        session.lastSeq(),
        (event) => void app.publish(topic, JSON.stringify(event)),
      ),
    );
  }

  function reply(
    ws: WebSocket<SocketData>,
    type: 'pong' | 'error' | 'connected',
    data: object,
  ): void {
    const { session, closed } = ws.getUserData();
    if (closed) return;
    const event = {
      type,
      session_id: session.id,
      seq: session.lastSeq(),
      timestamp: new Date().toISOString(),
      state: session.state(),
      data,
    } as OutboundEvent;
    ws.send(JSON.stringify(event), false);
  }

  function replyError(
    ws: WebSocket<SocketData>,
    error: unknown,
    ids: { id?: string | undefined; request_id?: string | undefined },
  ): void {
    const wire = toWireError(error);
    if (wire.status >= 500) ws.getUserData().log.error({ err: error }, 'message failed');
    const data: OutboundOf<'error'>['data'] = { code: wire.code, message: wire.message };
    if (ids.id !== undefined) data.id = ids.id;
    if (ids.request_id !== undefined) data.request_id = ids.request_id;
    reply(ws, 'error', data);
  }

  function refuse(res: uWS.HttpResponse, aborted: { value: boolean }, error: unknown): void {
    if (aborted.value) return;
    const wire = toWireError(error);
    res.cork(() => {
      res
        .writeStatus(statusLine(wire.status))
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify({ error: { code: wire.code, message: wire.message } }));
    });
  }

  /** One inbound frame: decoded, answered on this socket, or handed to the runtime. */
  function handle(ws: WebSocket<SocketData>, bytes: Uint8Array, isBinary: boolean): void {
    try {
      if (bytes.byteLength > limits.maxMessageBytes) {
        const message = `a message may be at most ${limits.maxMessageBytes} bytes`;
        return replyError(ws, new AppError('message_too_large', message), {});
      }
      const decoded = decodeInbound(bytes, isBinary);
      if (!decoded.ok) {
        return replyError(
          ws,
          new AppError(decoded.error.code, decoded.error.message),
          decoded.error,
        );
      }
      const command = decoded.message;
      if (command.type === 'ping') {
        return reply(ws, 'pong', command.id !== undefined ? { id: command.id } : {});
      }
      const data = ws.getUserData();
      runtime.send(data.session.id, command, data.principal.user_id).catch((error: unknown) => {
        // The socket may have closed meanwhile: a closed uWS socket must not be touched.
        if (data.closed) return;
        replyError(ws, error, {
          id: command.id,
          request_id: 'request_id' in command ? command.request_id : undefined,
        });
      });
    } catch (error) {
      replyError(ws, error, {});
    }
  }

  /** `connected`, then the replay asked for, then the session's topic. */
  function start(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    const { session } = data;
    const afterSeq = data.afterSeq ?? session.lastSeq();
    data.log.debug('socket open');
    reply(ws, 'connected', {
      session_id: session.id,
      user_id: data.principal.user_id,
      state: session.state(),
      last_seq: session.lastSeq(),
      pending_approvals: session.pendingApprovals(),
    });
    data.ready = true;
    for (const frame of data.early.splice(0)) handle(ws, frame.bytes, frame.isBinary);
    ensurePublisher(session);
    const topic = topicOf(session.id);
    session
      .subscribe(
        afterSeq,
        (event) => {
          if (!data.closed && !data.live) ws.send(JSON.stringify(event), false);
        },
        () => {
          data.live = true;
          if (!data.closed) ws.subscribe(topic);
        },
      )
      .then((unsubscribe) => {
        if (data.closed || data.live) unsubscribe();
        else data.unsubscribe = unsubscribe;
      })
      .catch((error: unknown) => {
        data.log.error({ err: error }, 'replay failed');
        if (!data.closed) ws.end(1011, 'replay failed');
      });
  }

  app.ws<SocketData>('/api/v1/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: limits.maxPayloadLength,
    maxBackpressure: limits.maxBackpressure,
    closeOnBackpressureLimit: 1,
    idleTimeout: limits.idleTimeout,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      const aborted = { value: false };
      res.onAborted(() => {
        aborted.value = true;
      });
      // Everything from req is copied before the first await.
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const query = new URLSearchParams(req.getQuery() ?? '');
      const token = bearerToken(req.getHeader('authorization')) ?? query.get('token') ?? undefined;
      const sessionId = query.get('session_id');
      const lastSeqParam = query.get('last_seq');

      const upgrade = async () => {
        if (sockets.size + pendingUpgrades >= limits.maxConnections) {
          throw new AppError('too_many_connections', 'the server is at its connection limit', 429);
        }
        if (!sessionId)
          throw new AppError(
            'session_id_required',
            'the session_id query parameter is required',
            400,
          );
        let afterSeq: number | null = null;
        if (lastSeqParam !== null) {
          afterSeq = Number(lastSeqParam);
          if (!Number.isInteger(afterSeq) || afterSeq < 0) {
            throw new AppError('invalid_last_seq', 'last_seq must be a whole number >= 0', 400);
          }
        }
        pendingUpgrades += 1;
        try {
          const principal = await auth.authenticate(token);
          const session = await runtime.getSession(sessionId);
          if (!session || !canAccess(principal, session.owner)) {
            throw new AppError('session_not_found', `no session ${sessionId}`, 404);
          }
          if (aborted.value) return;
          const id = nextId++;
          const data: SocketData = {
            id,
            principal,
            session,
            afterSeq,
            log: logger.child({ connId: id, sessionId: session.id, userId: principal.user_id }),
            closed: false,
            live: false,
            ready: false,
            early: [],
            unsubscribe: null,
          };
          res.cork(() => res.upgrade(data, key, protocol, extensions, context));
        } finally {
          pendingUpgrades -= 1;
        }
      };
      upgrade().catch((error: unknown) => {
        if (toWireError(error).status >= 500) logger.error({ err: error }, 'upgrade failed');
        refuse(res, aborted, error);
      });
    },

    open: (ws) => {
      try {
        sockets.add(ws);
        const data = ws.getUserData();
        // Fixed now, before any message of this socket can move the session on.
        data.afterSeq ??= data.session.lastSeq();
        // Nothing is sent from inside the corked upgrade: with this uWS build, a send there
        // can make uWS close the new socket right away (uWebSockets.js#1108).
        setImmediate(() => {
          if (!data.closed) ws.cork(() => start(ws));
        });
      } catch (error) {
        logger.error({ err: error }, 'open failed');
        ws.end(1011, 'internal error');
      }
    },

    message: (ws, message, isBinary) => {
      // Copied at once: uWS neuters the ArrayBuffer when this handler returns.
      const bytes = new Uint8Array(message.slice(0));
      const data = ws.getUserData();
      if (data.ready) handle(ws, bytes, isBinary);
      else data.early.push({ bytes, isBinary });
    },

    close: (ws, code) => {
      const data = ws.getUserData();
      data.closed = true;
      data.unsubscribe?.();
      sockets.delete(ws);
      data.log.debug({ code }, 'socket closed');
    },
  });

  return {
    connections: () => sockets.size,
    closeAll() {
      for (const ws of [...sockets]) ws.end(1001, 'server shutting down');
    },
  };
}
