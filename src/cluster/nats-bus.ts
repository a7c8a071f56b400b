import {
  headers,
  errors,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { isAppError } from '../errors.ts';
import {
  BadForwardReply,
  BusUnavailable,
  ForwardTimeout,
  NoOwnerResponding,
} from './bus-errors.ts';
import { commandSubject, eventSubject } from './bus-subjects.ts';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  replyOf,
  type CommandReply,
  type BusRequest,
} from './command-wire.ts';

/** `connected`: the state when a listener is added (given at once); then every change. */
export type BusStatus = 'connected' | 'disconnected' | 'reconnected';

/** A stored event's frame (`eventFrame(event)`, with its seq), or streamed text (not stored). */
export interface BusFrame {
  kind: 'event' | 'delta';
  text: string;
}

export type CommandHandler = (request: BusRequest) => Promise<CommandReply>;

/** Ends a subscription; resolves once the server has dropped it (or now, if unreachable). */
export type Unsubscribe = () => Promise<void>;

/** The cluster's messaging over one NATS connection: commands to owners, events to followers. */
export interface Bus {
  readonly nodeId: string;
  /**
   * Takes the session's commands. Resolves once the server knows (a forward sent after it
   * reaches this handler), with the unsubscribe. A throw is answered as the error it maps to.
   */
  serveCommands(sessionId: string, handler: CommandHandler): Promise<Unsubscribe>;
  /**
   * The command to whoever serves the session, and its reply. Rejects with NoOwnerResponding
   * (nobody serves it), ForwardTimeout (no answer in time: it may have been applied),
   * BusUnavailable (no connection now: at once, no waiting for a reconnect), BadForwardReply.
   */
  forward(sessionId: string, request: BusRequest, timeoutMs: number): Promise<CommandReply>;
  /** At most once, in order; dropped while disconnected (followers catch up from the log). */
  publishEvent(sessionId: string, frame: string): void;
  /** A `message_delta` (not stored; its seq is the last stored one), marked as such. */
  publishDelta(sessionId: string, frame: string): void;
  /** Frames of the session as they are published; resolves once subscribed, with the unsubscribe. */
  followEvents(sessionId: string, onFrame: (frame: BusFrame) => void): Promise<Unsubscribe>;
  isConnected(): boolean;
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Served commands in hand are answered (for up to 2 s), then it drains and closes. */
  close(): Promise<void>;
}

export interface BusOptions {
  url: string;
  nodeId: string;
  logger: Logger;
  /** Between reconnect attempts (forever). */
  reconnectWaitMs?: number;
  /** A server that answers no ping for about pingIntervalMs * 3 is taken for gone. */
  pingIntervalMs?: number;
}

/** Subscribers of a session's command subject share it: one of them takes each command. */
const OWNER_QUEUE = 'owner';
const FRAME_KIND = 'Hitl-Frame';
const DRAIN_MS = 2_000;
const FLUSH_MS = 2_000;

/** Connects (rejecting with BusUnavailable if NATS cannot be reached now), then stays connected. */
export async function connectBus(options: BusOptions): Promise<Bus> {
  const { url, nodeId } = options;
  const log = options.logger.child({ component: 'nats-bus', nodeId });
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url,
      name: `hitl-runtime ${nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 250,
      reconnectJitter: 100,
      pingInterval: options.pingIntervalMs ?? 2_000,
      maxPingOut: 3,
      timeout: 2_000,
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new BusUnavailable(`NATS at ${url} cannot be reached (${why})`);
  }
  let connected = true;
  let closing: Promise<void> | undefined;
  const listeners = new Set<(status: BusStatus) => void>();
  /** Forwards waiting for a reply: a disconnect fails them at once, not at their timeout. */
  const waiting = new Set<(error: Error) => void>();
  /** Served commands whose reply is not sent yet: close() lets them finish first. */
  const inHand = new Set<Promise<void>>();
  const deltaHeaders = headers();
  deltaHeaders.set(FRAME_KIND, 'delta');

  function emit(status: BusStatus): void {
    for (const listener of listeners) {
      try {
        listener(status);
      } catch (error) {
        log.error({ err: error }, 'bus status listener failed');
      }
    }
  }

  function failWaiting(error: Error): void {
    for (const fail of [...waiting]) fail(error);
  }

  const watching = (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && connected) {
        connected = false;
        log.warn({ server: status.server }, 'NATS disconnected; reconnecting');
        failWaiting(new BusUnavailable());
        emit('disconnected');
      } else if (status.type === 'close' && connected) {
        connected = false;
        if (!closing) log.error('NATS connection closed for good');
        failWaiting(new BusUnavailable('the cluster bus is closed'));
        emit('disconnected');
      } else if (status.type === 'reconnect') {
        // Usable once the server has this connection's subscriptions again (sent on reconnect):
        // a follower reads the log on 'reconnected', and an event stored after that read but
        // published before its subscription was back would be missed until the next one.
        await flushed();
        connected = true;
        log.info({ server: status.server }, 'NATS reconnected');
        emit('reconnected');
      } else if (status.type === 'error') {
        log.warn({ err: status.error }, 'NATS reported an error');
      } else if (status.type === 'staleConnection' || status.type === 'ldm') {
        log.warn({ status: status.type }, 'NATS connection going away');
      }
    }
  })().catch((error: unknown) => log.error({ err: error }, 'NATS status watch failed'));

  function usable(): Error | null {
    if (closing) return new BusUnavailable('the cluster bus is closed');
    if (!connected) return new BusUnavailable();
    return null;
  }

  /**
   * Resolves when the server has what was sent so far; at once if it is not reachable (the
   * subscriptions are sent again on reconnect), and within FLUSH_MS if it does not answer.
   */
  async function settled(): Promise<void> {
    if (connected) await flushed();
  }

  /** The server has what was sent so far, or FLUSH_MS have passed, or the flush failed. */
  async function flushed(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_MS)));
    try {
      await Promise.race([nc.flush(), late]);
    } catch (error) {
      log.debug({ err: error }, 'NATS flush failed');
    } finally {
      clearTimeout(timer);
    }
  }

  function mapRequestError(sessionId: string, timeoutMs: number, error: unknown): Error {
    if (error instanceof errors.RequestError && error.isNoResponders()) {
      return new NoOwnerResponding(sessionId);
    }
    if (error instanceof errors.TimeoutError) return new ForwardTimeout(sessionId, timeoutMs);
    if (
      error instanceof errors.ClosedConnectionError ||
      error instanceof errors.DrainingConnectionError ||
      error instanceof errors.ConnectionError ||
      error instanceof errors.RequestError
    ) {
      return new BusUnavailable();
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  async function unsubscribe(sub: Subscription): Promise<void> {
    if (nc.isClosed() || sub.isClosed()) return;
    sub.unsubscribe();
    await settled();
  }

  function publish(sessionId: string, frame: string, delta: boolean): void {
    if (usable()) return;
    try {
      nc.publish(eventSubject(sessionId), frame, delta ? { headers: deltaHeaders } : undefined);
    } catch (error) {
      log.warn({ err: error, sessionId }, 'publish failed');
    }
  }

  async function answer(msg: Msg, sessionId: string, handler: CommandHandler): Promise<void> {
    const decoded = decodeRequest(msg.data);
    let reply: CommandReply;
    if (!decoded.ok) {
      log.warn({ sessionId, problem: decoded.message }, 'unreadable forwarded command');
      reply = { ok: false, error: { code: 'bad_forward', message: decoded.message, status: 400 } };
    } else {
      try {
        reply = await handler(decoded.value);
      } catch (error) {
        if (!isAppError(error)) log.error({ err: error, sessionId }, 'forwarded command failed');
        reply = replyOf(error);
      }
    }
    try {
      msg.respond(encodeReply(reply));
    } catch (error) {
      log.warn({ err: error, sessionId }, 'reply to a forwarded command not sent');
    }
  }

  return {
    nodeId,

    async serveCommands(sessionId, handler) {
      const subject = commandSubject(sessionId);
      const sub = nc.subscribe(subject, {
        queue: OWNER_QUEUE,
        callback: (error, msg) => {
          if (error) return log.warn({ err: error, sessionId }, 'command subscription ended');
          const answering = answer(msg, sessionId, handler);
          inHand.add(answering);
          void answering.finally(() => inHand.delete(answering));
        },
      });
      await settled();
      return () => unsubscribe(sub);
    },

    async forward(sessionId, request, timeoutMs) {
      const unusable = usable();
      if (unusable) throw unusable;
      const subject = commandSubject(sessionId);
      return new Promise<CommandReply>((resolve, reject) => {
        waiting.add(reject);
        nc.request(subject, encodeRequest(request), { timeout: timeoutMs })
          .then((msg) => {
            const reply = decodeReply(msg.data);
            if (reply.ok) resolve(reply.value);
            else reject(new BadForwardReply(reply.message));
          })
          .catch((error: unknown) => reject(mapRequestError(sessionId, timeoutMs, error)))
          .finally(() => waiting.delete(reject));
      });
    },

    publishEvent: (sessionId, frame) => publish(sessionId, frame, false),
    publishDelta: (sessionId, frame) => publish(sessionId, frame, true),

    async followEvents(sessionId, onFrame) {
      const sub = nc.subscribe(eventSubject(sessionId), {
        callback: (error, msg) => {
          if (error) return log.warn({ err: error, sessionId }, 'event subscription ended');
          // A throw here would end nats.js's read loop for the whole connection.
          try {
            const kind = msg.headers?.get(FRAME_KIND) === 'delta' ? 'delta' : 'event';
            onFrame({ kind, text: msg.string() });
          } catch (failure) {
            log.error({ err: failure, sessionId }, 'event frame handler failed');
          }
        },
      });
      await settled();
      return () => unsubscribe(sub);
    },

    isConnected: () => connected && !closing,

    onStatus(listener) {
      listeners.add(listener);
      listener(connected ? 'connected' : 'disconnected');
      return () => void listeners.delete(listener);
    },

    close() {
      closing ??= (async () => {
        failWaiting(new BusUnavailable('the cluster bus is closed'));
        const timer = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_MS).unref());
        await Promise.race([Promise.all(inHand), timer]);
        // A drain waits for the server; without one, it would wait for a reconnect.
        const drained = connected ? nc.drain() : nc.close();
        await Promise.race([drained.catch(() => undefined), timer]);
        if (!nc.isClosed()) await nc.close().catch(() => undefined);
        connected = false;
        await watching;
      })();
      return closing;
    },
  };
}
