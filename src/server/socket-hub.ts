import type { Logger } from 'pino';
import { canRun, type Authenticator } from '../auth/index.ts';
import { AppError, toWireError } from '../errors.ts';
import { decodeInbound } from '../protocol/codec.ts';
import { eventFrame } from '../protocol/event-frame.ts';
import type { OutboundEvent, OutboundOf } from '../protocol/outbound.ts';
import type { SessionService, SessionView } from '../runtime/index.ts';
import type { Connection, SocketLimits, SocketState } from './connection.ts';
import { replayPace, SocketClosed } from './replay-pace.ts';
import { createUpgradeChecks } from './upgrade-checks.ts';
import type { ServerMeter } from './metrics.ts';
import type { UserLimiter, UserLimits } from './user-limits.ts';

export interface SocketHubDeps {
  runtime: SessionService;
  auth: Authenticator;
  logger: Logger;
  limits: SocketLimits;
  users: UserLimiter;
  userLimits: UserLimits;
  /** Sends a frame to every socket subscribed to the topic (the transport's broadcast). */
  publish(topic: string, text: string): void;
  /** Refusals, errors answered and frames sent, for metrics. */
  meter?: ServerMeter | undefined;
}

/** What an upgrade request carries that the checks need, copied before any await. */
export interface UpgradeRequest {
  query: URLSearchParams;
  authorization: string;
}

/** The socket protocol, written once: adapters call these from their transport's hooks. */
export interface SocketHub {
  /** Runs the upgrade checks; resolves with the new socket's state or rejects with the refusal. */
  accept(request: UpgradeRequest): Promise<SocketState>;
  opened(conn: Connection): void;
  /** One inbound frame; `bytes` must already be a copy the transport will not reuse. */
  message(conn: Connection, bytes: Uint8Array, isBinary: boolean): void;
  closed(conn: Connection, code: number): void;
  connections(): number;
  /** Closes every socket with 1001 (going away). */
  closeAll(): void;
}

const MAX_TIMER_MS = 2_147_483_647;

export function createSocketHub(deps: SocketHubDeps): SocketHub {
  const { runtime, logger, limits, users } = deps;
  const sockets = new Set<Connection>();
  /** Hosts with a publisher: a restored session is a new host and gets its own. */
  const published = new WeakSet<SessionView>();
  /** Sockets on each topic, so a broadcast counts one frame per socket. */
  const onTopic = new Map<string, number>();
  /** The topic each live socket is on. */
  const subscribed = new WeakMap<Connection, string>();
  /**
   * A topic per view, not per session: a node can hold two views of one session (a socket
   * still on the view of a session another node owned, when this node took it over), and
   * their streams must never interleave on one socket.
   */
  const topics = new WeakMap<SessionView, string>();
  let viewCount = 0;
  function topicOf(session: SessionView): string {
    let topic = topics.get(session);
    if (topic === undefined) {
      viewCount += 1;
      topic = `session/${session.id}/${viewCount}`;
      topics.set(session, topic);
    }
    return topic;
  }
  const checkUpgrade = createUpgradeChecks({ ...deps, openSockets: () => sockets.size });

  function send(conn: Connection, text: string): void {
    conn.send(text);
    deps.meter?.framesSent(1);
  }

  function broadcast(session: SessionView, text: string): void {
    const topic = topicOf(session);
    deps.publish(topic, text);
    const count = onTopic.get(topic) ?? 0;
    if (count > 0) deps.meter?.framesSent(count);
  }

  function moveTopic(topic: string, by: number): void {
    const count = (onTopic.get(topic) ?? 0) + by;
    if (count > 0) onTopic.set(topic, count);
    else onTopic.delete(topic);
  }

  // A session whose host was dropped (a failed write) comes back from its snapshot as a new
  // host: its sockets are closed with 1012 so that they resume with last_seq from the log, and
  // the next socket gets a publisher bound to the new host.
  // In cluster mode a session whose write was fenced (another node owns it now) is closed the
  // same way: the client reconnects, to any node, and resumes with last_seq.
  runtime.onSessionLost((sessionId, why) => {
    const reason =
      why === 'moved'
        ? 'session moved to another node: resume with last_seq'
        : 'session restored: resume with last_seq';
    for (const conn of sockets) {
      if (conn.state.session.id === sessionId) conn.end(1012, reason);
    }
  });

  /** One broadcast per view of a session: every live socket of it is on its topic. */
  function ensurePublisher(session: SessionView): void {
    if (published.has(session)) return;
    published.add(session);
    session
      .subscribe(session.lastSeq(), (event) => broadcast(session, eventFrame(event)))
      .catch((error: unknown) =>
        logger.error({ err: error, sessionId: session.id }, 'publisher failed'),
      );
    session.onDelta((event) => broadcast(session, JSON.stringify(event)));
  }

  function reply(conn: Connection, type: 'pong' | 'error' | 'connected', data: object): void {
    const { session, closed } = conn.state;
    if (closed) return;
    const event = {
      type,
      session_id: session.id,
      seq: session.lastSeq(),
      timestamp: new Date().toISOString(),
      state: session.state(),
      data,
    } as OutboundEvent;
    send(conn, JSON.stringify(event));
  }

  function replyError(
    conn: Connection,
    error: unknown,
    ids: { id?: string | undefined; request_id?: string | undefined },
  ): void {
    const wire = toWireError(error);
    deps.meter?.answered(wire.code, wire.status);
    if (wire.status >= 500) conn.state.log.error({ err: error }, 'message failed');
    const data: OutboundOf<'error'>['data'] = { code: wire.code, message: wire.message };
    if (wire.retryAfterMs !== undefined) data.retry_after_ms = wire.retryAfterMs;
    if (ids.id !== undefined) data.id = ids.id;
    if (ids.request_id !== undefined) data.request_id = ids.request_id;
    reply(conn, 'error', data);
  }

  /** One inbound frame: decoded, answered on this socket, or handed to the runtime. */
  function handle(conn: Connection, bytes: Uint8Array, isBinary: boolean): void {
    if (!withinRate(conn)) return;
    try {
      if (bytes.byteLength > limits.maxMessageBytes) {
        const message = `a message may be at most ${limits.maxMessageBytes} bytes`;
        return replyError(conn, new AppError('message_too_large', message), {});
      }
      const decoded = decodeInbound(bytes, isBinary);
      if (!decoded.ok) {
        const { code, message } = decoded.error;
        return replyError(conn, new AppError(code, message), decoded.error);
      }
      const command = decoded.message;
      if (command.type === 'ping') {
        return reply(conn, 'pong', command.id !== undefined ? { id: command.id } : {});
      }
      const { state } = conn;
      if (
        (command.type === 'execute' || command.type === 'cancel') &&
        !canRun(state.principal, state.session.owner)
      ) {
        const message = `only the session's owner may ${command.type} in it`;
        return replyError(conn, new AppError('not_session_owner', message, 403), {
          id: command.id,
        });
      }
      const { user_id, roles } = state.principal;
      runtime.send(state.session.id, command, user_id, roles).catch((error: unknown) => {
        // The socket may have closed meanwhile: the adapter ignores sends to a closed socket.
        replyError(conn, error, {
          id: command.id,
          request_id: 'request_id' in command ? command.request_id : undefined,
        });
      });
    } catch (error) {
      replyError(conn, error, {});
    }
  }

  /**
   * The user's message bucket: over it, the message is answered with `rate_limited`; a socket
   * that goes on at ten times the rate for a second is closed with 1008 (policy violation).
   */
  function withinRate(conn: Connection): boolean {
    const { state } = conn;
    try {
      users.message(state.principal.user_id);
      return true;
    } catch (error) {
      const now = Date.now();
      if (now - state.refusedSince > 1_000) {
        state.refusedSince = now;
        state.refused = 0;
      }
      state.refused += 1;
      if (state.refused > 10 * deps.userLimits.messageRate) {
        const wire = toWireError(error);
        deps.meter?.answered(wire.code, wire.status);
        state.log.warn('message rate far over the limit; closing');
        conn.end(1008, 'message rate far over the limit');
      } else {
        replyError(conn, error, {});
      }
      return false;
    }
  }

  /**
   * Passivated between the upgrade's lookup and the open (it held nothing yet): the socket
   * goes on with the session as it comes back from its snapshot (from the last_seq it asked for).
   */
  function resume(conn: Connection): void {
    const { state } = conn;
    runtime
      .getSession(state.session.id)
      .then((fresh) => {
        if (state.closed) return;
        if (!fresh) return conn.end(1011, 'session gone');
        state.release?.();
        state.session = fresh;
        state.release = fresh.hold();
        conn.cork(() => start(conn));
      })
      .catch((error: unknown) => {
        state.log.error({ err: error }, 'session not restored for a new socket');
        conn.end(1011, 'internal error');
      });
  }

  /** `connected`, then the replay asked for, then the session's topic. */
  function start(conn: Connection): void {
    const { state } = conn;
    const { session } = state;
    // Dropped while this socket was being upgraded: it resumes on the restored session.
    if (session.isBroken()) return conn.end(1012, 'session restored: resume with last_seq');
    if (session.isRetired()) return resume(conn);
    // Without a last_seq, the events after the one `connected` reports: taken with it, here,
    // not at the open (the session may move on before this runs), and before any message of
    // this socket is handled.
    const afterSeq = (state.afterSeq ??= session.lastSeq());
    state.log.debug('socket open');
    reply(conn, 'connected', {
      session_id: session.id,
      user_id: state.principal.user_id,
      state: session.state(),
      last_seq: session.lastSeq(),
      pending_approvals: session.pendingApprovals(),
    });
    state.ready = true;
    for (const frame of state.early.splice(0)) handle(conn, frame.bytes, frame.isBinary);
    ensurePublisher(session);
    session
      .subscribe(
        afterSeq,
        (event) => {
          if (!state.closed && !state.live) send(conn, eventFrame(event));
        },
        () => {
          state.live = true;
          if (state.closed) return;
          const topic = topicOf(session);
          conn.subscribe(topic);
          subscribed.set(conn, topic);
          moveTopic(topic, 1);
          // Mid-stream: the text so far, then the frames that follow on the topic.
          const streaming = session.streaming();
          if (streaming) send(conn, JSON.stringify(streaming));
        },
        replayPace(conn, limits),
      )
      .then((unsubscribe) => {
        if (state.closed || state.live) unsubscribe();
        else state.unsubscribe = unsubscribe;
      })
      .catch((error: unknown) => {
        if (error instanceof SocketClosed) return;
        state.log.error({ err: error }, 'replay failed');
        conn.end(1011, 'replay failed');
      });
  }

  return {
    async accept(request) {
      try {
        return await checkUpgrade(request);
      } catch (error) {
        const wire = toWireError(error);
        deps.meter?.upgradeRefused(wire.code, wire.status);
        throw error;
      }
    },
    opened(conn) {
      sockets.add(conn);
      users.socketOpened(conn.state.principal.user_id);
      // A socket lives no longer than its token: the client reconnects with a fresh one.
      const expiresAt = conn.state.principal.expires_at;
      if (expiresAt !== undefined) {
        const ms = Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now()));
        conn.state.expiry = setTimeout(() => conn.end(4001, 'token expired'), ms);
      }
      conn.state.release = conn.state.session.hold();
      // Nothing is sent from inside the upgrade: with uWS 20.30, a send from inside the corked
      // upgrade can make uWS close the new socket right away (uWebSockets.js#1108).
      setImmediate(() => {
        if (conn.state.closed) return;
        try {
          conn.cork(() => start(conn));
        } catch (error) {
          logger.error({ err: error }, 'open failed');
          conn.end(1011, 'internal error');
        }
      });
    },

    message(conn, bytes, isBinary) {
      if (conn.state.ready) handle(conn, bytes, isBinary);
      else conn.state.early.push({ bytes, isBinary });
    },

    closed(conn, code) {
      const { state } = conn;
      state.closed = true;
      state.unsubscribe?.();
      state.release?.();
      if (state.expiry) clearTimeout(state.expiry);
      if (sockets.delete(conn)) users.socketClosed(state.principal.user_id);
      const topic = subscribed.get(conn);
      if (topic !== undefined) {
        subscribed.delete(conn);
        moveTopic(topic, -1);
      }
      state.log.debug({ code }, 'socket closed');
    },

    connections: () => sockets.size,

    closeAll() {
      for (const conn of [...sockets]) conn.end(1001, 'server shutting down');
    },
  };
}
