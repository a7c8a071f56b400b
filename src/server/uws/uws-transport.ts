import type { HttpRequest, HttpResponse, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { toWireError } from '../../errors.ts';
import type { Connection, SocketState } from '../connection.ts';
import {
  errorAnswer,
  MAX_BODY_BYTES,
  payloadTooLarge,
  statusLine,
  type BodyReader,
  type HttpAnswer,
  type RequestInfo,
} from '../http.ts';
import { WS_PATH, type Transport, type TransportDeps } from '../transport.ts';
import type { UwsBuild } from './uws-build.ts';

interface UwsData {
  state: SocketState;
  conn: Connection | null;
  topics: Set<string>;
}

/** What `ws.send` answers when uWS dropped the frame: the socket is over its backpressure. */
const DROPPED = 2;

/**
 * The uWebSockets.js adapter. Its rules, which crash the process when broken: onAborted first
 * in a handler that awaits; everything copied from `req` and from a message's ArrayBuffer
 * before the first await; a `ws` never touched after its close handler; writes to `res`
 * inside `res.cork` after an await.
 */
export function createUwsTransport(build: UwsBuild, deps: TransportDeps): Transport {
  const { uws } = build;
  const { hub, http, limits, logger } = deps;
  const app = uws.App();
  let listenSocket: us_listen_socket | null = null;
  /**
   * The sockets on each topic. uWS's own publish drops a frame for a subscriber over its
   * backpressure and may deliver the next one once its buffer drains: a gap in the stream.
   * Sending to each subscriber sees the drop, and the socket closes before anything after it.
   */
  const topics = new Map<string, Set<WebSocket<UwsData>>>();

  function sendOrClose(ws: WebSocket<UwsData>, text: string): void {
    if (ws.getUserData().state.closed) return;
    if (ws.send(text, false) === DROPPED) ws.close();
  }

  function write(res: HttpResponse, aborted: { value: boolean }, answer: HttpAnswer): void {
    if (aborted.value) return;
    res.cork(() => {
      res.writeStatus(statusLine(answer.status));
      for (const [name, value] of Object.entries(answer.headers)) res.writeHeader(name, value);
      res.end(answer.body);
    });
  }

  app.ws<UwsData>(WS_PATH, {
    compression: uws.DISABLED,
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
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const request = {
        query: new URLSearchParams(req.getQuery() ?? ''),
        authorization: req.getHeader('authorization'),
      };
      hub.accept(request).then(
        (state) => {
          if (aborted.value) return;
          const data: UwsData = { state, conn: null, topics: new Set() };
          res.cork(() => res.upgrade(data, key, protocol, extensions, context));
        },
        (error: unknown) => {
          if (toWireError(error).status >= 500) logger.error({ err: error }, 'upgrade failed');
          write(res, aborted, errorAnswer(error));
        },
      );
    },

    open: (ws: WebSocket<UwsData>) => {
      const data = ws.getUserData();
      const { state } = data;
      const conn: Connection = {
        state,
        send: (text) => sendOrClose(ws, text),
        end: (code, reason) => {
          if (!state.closed) ws.end(code, reason);
        },
        drop: () => {
          if (!state.closed) ws.close();
        },
        bufferedAmount: () => (state.closed ? 0 : ws.getBufferedAmount()),
        subscribe: (topic) => {
          if (state.closed) return;
          data.topics.add(topic);
          const on = topics.get(topic) ?? new Set();
          on.add(ws);
          topics.set(topic, on);
        },
        cork: (fn) => {
          if (!state.closed) ws.cork(fn);
        },
      };
      data.conn = conn;
      hub.opened(conn);
    },

    message: (ws, message, isBinary) => {
      // Copied at once: uWS neuters the ArrayBuffer when this handler returns.
      const bytes = new Uint8Array(message.slice(0));
      const { conn } = ws.getUserData();
      if (conn) hub.message(conn, bytes, isBinary);
    },

    close: (ws, code) => {
      const { conn, state, topics: mine } = ws.getUserData();
      state.closed = true;
      for (const topic of mine) {
        const on = topics.get(topic);
        on?.delete(ws);
        if (on?.size === 0) topics.delete(topic);
      }
      if (conn) hub.closed(conn, code);
    },
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const aborted = { value: false };
    res.onAborted(() => {
      aborted.value = true;
    });
    const request: RequestInfo = {
      method: req.getMethod().toUpperCase(),
      url: req.getUrl(),
      query: new URLSearchParams(req.getQuery() ?? ''),
      authorization: req.getHeader('authorization'),
    };
    const readBody =
      request.method === 'GET' || request.method === 'HEAD' ? noBody : bodyReader(res);
    void http(request, readBody).then((answer) => write(res, aborted, answer));
  });

  return {
    name: build.name,
    publish: (topic, text) => {
      for (const ws of topics.get(topic) ?? []) sendOrClose(ws, text);
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
    },
    close() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
    },
  };
}

const noBody: BodyReader = () => Promise.resolve(new Uint8Array(0));

/** Reads the body as it streams in; must be set up before the handler's first await. */
function bodyReader(res: HttpResponse): BodyReader {
  const chunks: Buffer[] = [];
  let size = 0;
  const done = new Promise<Uint8Array>((resolve, reject) => {
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size <= MAX_BODY_BYTES) chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      if (size > MAX_BODY_BYTES) reject(payloadTooLarge());
      else resolve(Buffer.concat(chunks));
    });
  });
  done.catch(() => undefined);
  return () => done;
}
